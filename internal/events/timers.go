package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Timers. Stream TIMERS holds, under these subjects:
//
//	timer.at.<minute>.<ss>.<key>.<nonce>   the index: one entry per wake-up scheduled for record
//	                                       key, by unix minute and second (00-59) within it
//	timer.closed.<minute>                  a minute the scanners have closed: its entries were
//	                                       turned into due work and purged (kept a day)
//	timer.cursor                           the first minute not yet closed, shared by every
//	                                       scanner (compare-and-swap on its sequence)
//	timer.due.<key>                        due work, for the durable consumer "timers"
//
// ScheduleTimer writes index entries; a TimerScanner in every worker process
// turns the entries that fall due into due work; the consumer "timers" only
// ever holds due work. Listing the entries of one second or one minute is a
// lookup in the server's in-memory subject index, so the scanner's cost is
// proportional to the timers that fall due, not to the number scheduled.
const (
	timerDuePrefix    = "timer.due."
	timerAtPrefix     = "timer.at."
	timerClosedPrefix = "timer.closed."
	timerCursor       = "timer.cursor"

	// timerDirectWithin: a wake-up this close (or past) is published as
	// due work at once; the handler parks it the few seconds left.
	timerDirectWithin = 2 * time.Second
	// timerDuplicates is TIMERS' deduplication window. It covers several
	// scanners firing the same entry: live within seconds of its time, at
	// the latest when its minute is closed, a minute and Settle later.
	timerDuplicates = 5 * time.Minute
	// timerClosedKeep is how long a closed-minute marker is kept.
	timerClosedKeep = 24 * 60 // minutes
)

// TimerNear is the horizon of the "near" rules. ScheduleTimer checks an
// entry due within it against the closed minutes after publishing it (an
// entry farther out cannot reach a minute the scanners closed unless clocks
// disagree by more than this). A due timer whose record's next wake-up is
// within it is parked (RetryAfter) by its handler; one farther out is
// indexed again with ScheduleTimer. Using one horizon for both means a
// re-indexed entry is never a near one, so the two cannot chase each other.
const TimerNear = time.Minute

// TimerMaxAckPending bounds the due timers the consumer "timers" has
// delivered and not yet acked: those being handled and those parked for
// at most TimerNear. (A deployment upgraded from the timers of vpnbill
// before the index also has up to 1,000 old timers parked until their own
// time; they keep a slot each until then.)
const TimerMaxAckPending = 10_000

// ScheduleTimer stores a wake-up for record key at at (rounded up to the
// second). A wake-up at most 2s away is published as due work at once;
// any other is an entry in the due-time index, which a TimerScanner turns
// into due work when it falls due. An earlier wake-up of the same record is
// not removed: a stale one costs one reconcile that finds nothing to do.
// Calling it again for the same wake-up may add a second entry (one more
// such reconcile); it never loses one.
func ScheduleTimer(ctx context.Context, js jetstream.JetStream, key string, at time.Time) error {
	if !validTimerKey(key) {
		return fmt.Errorf("timer key %q is not a valid subject token", key)
	}
	e := newTimerEntry(key, CeilSecond(at).Unix(), newNonce())
	until := time.Until(e.time())
	if until <= timerDirectWithin {
		if err := e.publishDue(ctx, js); err != nil {
			return fmt.Errorf("schedule timer %s: %w", key, err)
		}
		return nil
	}
	ack, err := js.Publish(ctx, e.subj, []byte(e.time().Format(time.RFC3339)))
	if err != nil {
		return fmt.Errorf("schedule timer %s: %w: %w", key, ErrNotStored, err)
	}
	if until > TimerNear {
		return nil
	}
	if err := e.ensureOpen(ctx, js, ack.Sequence); err != nil {
		return fmt.Errorf("schedule timer %s: %w", key, err)
	}
	return nil
}

// ensureOpen handles a near entry stored at seq whose minute may already be
// closed (clocks a little apart, a slow publish): if it is, no scanner will
// read the entry, so it is turned into due work here. A scanner writes a
// minute's marker before it lists the minute, so an entry stored before the
// marker is listed and one stored after it sees the marker here.
func (e timerEntry) ensureOpen(ctx context.Context, js jetstream.JetStream, seq uint64) error {
	st, err := js.Stream(ctx, StreamTimers)
	if err != nil {
		return err
	}
	_, err = st.GetLastMsgForSubject(ctx, closedSubject(e.minute()))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := e.publishDue(ctx, js); err != nil {
		return err
	}
	_ = st.DeleteMsg(ctx, seq) // best effort: a leftover would only fire again
	return nil
}

// CeilSecond rounds t up to a whole second: timers are kept to the second.
func CeilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// TimerKey is the record key a due timer message is for.
func TimerKey(subject string) (string, bool) {
	return strings.CutPrefix(subject, timerDuePrefix)
}

// RemoveDone wraps the handler of due timers: a message it handled (nil
// error) is deleted from stream TIMERS before it is acked, so the stream
// keeps only the index and the work not yet done (a handled message would
// otherwise stay, one per record, under the stream's limits retention).
// A failed delete is ignored: the message only stays.
func RemoveDone(js jetstream.JetStream, h Handler) Handler {
	var mu sync.Mutex
	var st jetstream.Stream
	return func(ctx context.Context, msg jetstream.Msg) error {
		if err := h(ctx, msg); err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil || meta.Stream != StreamTimers {
			return nil
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		mu.Lock()
		if st == nil {
			st, _ = js.Stream(dctx, StreamTimers)
		}
		s := st
		mu.Unlock()
		if s != nil {
			_ = s.DeleteMsg(dctx, meta.Sequence.Stream)
		}
		return nil
	}
}

// timerEntry is one index entry: a wake-up of record key at unix second at.
// nonce tells entries of the same wake-up apart, so that a wake-up indexed
// again after it fired is never mistaken for a duplicate of the first.
type timerEntry struct {
	key   string
	at    int64
	nonce string
	subj  string // its subject, timer.at.<minute>.<ss>.<key>.<nonce>
}

func newTimerEntry(key string, at int64, nonce string) timerEntry {
	e := timerEntry{key: key, at: at, nonce: nonce}
	m := e.minute()
	e.subj = fmt.Sprintf("%s%d.%02d.%s.%s", timerAtPrefix, m, at-m*60, key, nonce)
	return e
}

func (e timerEntry) time() time.Time { return time.Unix(e.at, 0).UTC() }
func (e timerEntry) minute() int64   { return floorDiv(e.at, 60) }

// id is the deduplication id of the entry's due work: every scanner that
// fires the entry publishes it under the same id.
func (e timerEntry) id() string { return fmt.Sprintf("timer:%s:%d:%s", e.key, e.at, e.nonce) }

// publishDue publishes the entry's due work.
func (e timerEntry) publishDue(ctx context.Context, js jetstream.JetStream) error {
	_, err := e.publishDueAck(ctx, js)
	return err
}

func (e timerEntry) publishDueAck(ctx context.Context, js jetstream.JetStream) (*jetstream.PubAck, error) {
	return Publish(ctx, js, timerDuePrefix+e.key, e.id(), []byte(e.time().Format(time.RFC3339)), nil)
}

// parseTimerEntry reads an index subject.
func parseTimerEntry(subject string) (timerEntry, bool) {
	rest, ok := strings.CutPrefix(subject, timerAtPrefix)
	if !ok {
		return timerEntry{}, false
	}
	tok := strings.Split(rest, ".")
	if len(tok) != 4 || tok[3] == "" || !validTimerKey(tok[2]) {
		return timerEntry{}, false
	}
	m, err1 := strconv.ParseInt(tok[0], 10, 64)
	s, err2 := strconv.ParseInt(tok[1], 10, 64)
	if err1 != nil || err2 != nil || s < 0 || s > 59 {
		return timerEntry{}, false
	}
	return timerEntry{key: tok[2], at: m*60 + s, nonce: tok[3], subj: subject}, true
}

func minuteFilter(m int64) string { return fmt.Sprintf("%s%d.>", timerAtPrefix, m) }

func secondFilter(sec int64) string {
	m := floorDiv(sec, 60)
	return fmt.Sprintf("%s%d.%02d.>", timerAtPrefix, m, sec-m*60)
}

func closedSubject(m int64) string { return fmt.Sprintf("%s%d", timerClosedPrefix, m) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// validTimerKey: a record key is one subject token.
func validTimerKey(key string) bool { return validToken(key) && !strings.Contains(key, ".") }

func newNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
