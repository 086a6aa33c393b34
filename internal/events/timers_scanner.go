package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// TimerScannerConfig configures a TimerScanner.
type TimerScannerConfig struct {
	// Tick is how often the scanner looks for due timers. Default 1s.
	Tick time.Duration
	// Settle is how long after a minute ends the scanners close it: time
	// for index entries still in flight and for clocks a little apart.
	// Default 10s. It delays only the closing, never a timer: entries are
	// fired live, each at its second.
	Settle time.Duration
	// CatchUp bounds the time one tick spends closing past minutes (after
	// every worker was down a while), so the timers falling due now are not
	// held up by it. Default 1s.
	CatchUp time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger; default none.
	Logger *zap.Logger
	// Observe, if set, is called for each due timer this scanner stored (not
	// a duplicate of one another scanner stored), with how late it was by
	// Now. It may be called from several goroutines at once.
	Observe func(key string, at time.Time, late time.Duration)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c TimerScannerConfig) WithDefaults() TimerScannerConfig {
	if c.Tick <= 0 {
		c.Tick = time.Second
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Second
	}
	if c.CatchUp <= 0 {
		c.CatchUp = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

const (
	// liveOverlap: each tick lists again the last seconds the previous
	// tick listed, for an entry stored just after its second was listed.
	liveOverlap = 2
	// liveWholeMinute: a gap of this many seconds or more (the first tick,
	// a long pause) is listed by whole minutes rather than second by second.
	liveWholeMinute = 8
	// firePool: due work published at once.
	firePool = 32
)

// TimerScanner turns the index entries that fall due into due work
// (timer.due.<key>) for the consumer "timers". Run one in every worker
// process: they share a cursor, the first minute not yet closed, and
// publish each entry's due work under one deduplication id, so a timer
// fires once however many scan.
//
// Each tick (about every second) it does, in order:
//
//   - live: lists the index entries of the seconds that came due since the
//     last tick (and the two before, again), and publishes their due work;
//   - close: for each minute before the cursor's that ended Settle ago, it
//     writes the minute's closed marker, lists the whole minute, publishes
//     the due work of every entry not yet fired, purges the entries stored
//     before the marker, and advances the cursor with compare-and-swap.
//
// Listing a second or a minute reads the server's in-memory subject index,
// so a tick costs in proportion to the entries that fall due, and an empty
// minute a handful of requests, however many timers are scheduled. A crash
// between any two steps only repeats them: the due work is deduplicated,
// and a reconcile with nothing to do is cheap.
//
// A TimerScanner is not safe for concurrent use; Run it in one goroutine.
type TimerScanner struct {
	cfg TimerScannerConfig
	js  jetstream.JetStream
	log *zap.Logger

	st      jetstream.Stream
	next    int64            // first unix second not yet listed live; 0 before the first tick
	fired   map[string]int64 // index subjects this scanner published due work for, by minute
	failing bool
}

// NewTimerScanner returns a scanner of stream TIMERS (declared by Setup).
func NewTimerScanner(js jetstream.JetStream, cfg TimerScannerConfig) *TimerScanner {
	cfg = cfg.WithDefaults()
	return &TimerScanner{cfg: cfg, js: js, log: cfg.Logger, fired: map[string]int64{}}
}

// Run scans every Tick until ctx is canceled, then returns nil. A failed
// tick (NATS unavailable) is logged and the next one tries again.
func (s *TimerScanner) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		err := s.tick(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !s.failing:
			s.failing = true
			s.log.Warn("timer scan failed; retrying every tick", zap.Error(err))
		case err != nil:
			s.log.Debug("timer scan failed again", zap.Error(err))
		case s.failing:
			s.failing = false
			s.log.Info("timer scan recovered")
		}
		// Tick just after the wall clock's next tick boundary: an entry
		// of second s is then seen a few tens of milliseconds after s.
		tick := s.cfg.Tick.Nanoseconds()
		t.Reset(time.Duration(tick-time.Now().UnixNano()%tick) + 20*time.Millisecond)
	}
}

// tick is one scan: live, then close.
func (s *TimerScanner) tick(ctx context.Context) error {
	if s.st == nil {
		st, err := s.js.Stream(ctx, StreamTimers)
		if err != nil {
			return fmt.Errorf("stream %s: %w", StreamTimers, err)
		}
		s.st = st
	}
	now := s.cfg.Now()
	cur, rev, err := s.cursor(ctx, now)
	if err != nil {
		return err
	}
	closable := floorDiv(now.Add(-s.cfg.Settle).Unix(), 60) // minutes before it may be closed
	liveErr := s.live(ctx, now, max(cur, closable))

	if behind := closable - cur; behind > 1 {
		s.log.Info("closing past timer minutes", zap.Int64("minutes", behind), zap.Time("from", time.Unix(cur*60, 0).UTC()))
	}
	deadline := time.Now().Add(s.cfg.CatchUp)
	for cur < closable && time.Now().Before(deadline) {
		if err := s.close(ctx, cur, now); err != nil {
			return errors.Join(liveErr, err)
		}
		nrev, err := s.advance(ctx, cur, rev)
		if errors.Is(err, errCursorMoved) { // another scanner closed it too
			if cur, rev, err = s.cursor(ctx, now); err != nil {
				return errors.Join(liveErr, err)
			}
			continue
		}
		if err != nil {
			return errors.Join(liveErr, err)
		}
		cur, rev = cur+1, nrev
	}
	for subj, m := range s.fired {
		if m < cur {
			delete(s.fired, subj)
		}
	}
	return liveErr
}

// live fires the entries of the seconds from minute from (or the last tick)
// up to now.
func (s *TimerScanner) live(ctx context.Context, now time.Time, from int64) error {
	nowSec := now.Unix()
	lo := from * 60
	if s.next > 0 {
		lo = max(lo, s.next-liveOverlap)
	}
	if lo > nowSec {
		return nil
	}
	var due []timerEntry
	if nowSec-lo >= liveWholeMinute {
		for m := floorDiv(lo, 60); m <= floorDiv(nowSec, 60); m++ {
			es, _, err := s.list(ctx, minuteFilter(m))
			if err != nil {
				return err
			}
			for _, e := range es {
				if e.at >= lo && e.at <= nowSec {
					due = append(due, e)
				}
			}
		}
	} else {
		for sec := lo; sec <= nowSec; sec++ {
			es, _, err := s.list(ctx, secondFilter(sec))
			if err != nil {
				return err
			}
			due = append(due, es...)
		}
	}
	if err := s.fire(ctx, due); err != nil {
		return err // next is kept: the same seconds are listed again
	}
	s.next = nowSec + 1
	return nil
}

// close closes minute m: marker, list, fire, purge.
func (s *TimerScanner) close(ctx context.Context, m int64, now time.Time) error {
	// The marker first: an entry stored after it is not listed below, and
	// ScheduleTimer, which checks a near entry's minute, fires it itself.
	ack, err := s.js.Publish(ctx, closedSubject(m), []byte(now.UTC().Format(time.RFC3339)))
	if err != nil {
		return fmt.Errorf("close timer minute %d: %w", m, err)
	}
	es, n, err := s.list(ctx, minuteFilter(m))
	if err != nil {
		return err
	}
	if err := s.fire(ctx, es); err != nil {
		return err
	}
	if n > 0 {
		// Only what was stored before the marker, which is what was listed.
		if err := s.st.Purge(ctx, jetstream.WithPurgeSubject(minuteFilter(m)), jetstream.WithPurgeSequence(ack.Sequence)); err != nil {
			return fmt.Errorf("purge timer minute %d: %w", m, err)
		}
	}
	if err := s.st.Purge(ctx, jetstream.WithPurgeSubject(closedSubject(m-timerClosedKeep))); err != nil {
		s.log.Debug("old closed-minute marker not purged", zap.Int64("minute", m-timerClosedKeep), zap.Error(err))
	}
	if len(es) > 0 {
		s.log.Debug("timer minute closed", zap.Time("minute", time.Unix(m*60, 0).UTC()), zap.Int("entries", len(es)))
	}
	return nil
}

// list returns the index entries matching filter, earliest first, and how
// many subjects matched (a malformed one is counted, never fired).
func (s *TimerScanner) list(ctx context.Context, filter string) ([]timerEntry, int, error) {
	info, err := s.st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", filter, err)
	}
	es := make([]timerEntry, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		e, ok := parseTimerEntry(subj)
		if !ok {
			s.log.Warn("malformed timer index entry ignored", zap.String("subject", subj))
			continue
		}
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b timerEntry) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.subj, b.subj))
	})
	return es, len(info.State.Subjects), nil
}

// fire publishes the due work of each entry this scanner has not fired yet.
func (s *TimerScanner) fire(ctx context.Context, es []timerEntry) error {
	es = slices.DeleteFunc(slices.Clone(es), func(e timerEntry) bool { _, done := s.fired[e.subj]; return done })
	if len(es) == 0 {
		return nil
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	work := make(chan timerEntry)
	for range min(firePool, len(es)) {
		wg.Go(func() {
			for e := range work {
				ack, err := e.publishDueAck(ctx, s.js)
				now := s.cfg.Now()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					s.fired[e.subj] = e.minute()
				}
				mu.Unlock()
				if err == nil && !ack.Duplicate && s.cfg.Observe != nil {
					s.cfg.Observe(e.key, e.time(), now.Sub(e.time()))
				}
			}
		})
	}
	for _, e := range es {
		work <- e
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d due timers not published: %w", len(errs), len(es), errs[0])
	}
	return nil
}

// errCursorMoved: another scanner advanced the cursor first.
var errCursorMoved = errors.New("timer cursor moved")

// cursor reads the shared cursor and its sequence, creating it on a
// stream that has none.
func (s *TimerScanner) cursor(ctx context.Context, now time.Time) (int64, uint64, error) {
	for range 3 {
		msg, err := s.st.GetLastMsgForSubject(ctx, timerCursor)
		if err == nil {
			t, perr := time.Parse(time.RFC3339, string(msg.Data))
			if perr != nil {
				return 0, 0, fmt.Errorf("timer cursor %q: %w", msg.Data, perr)
			}
			return floorDiv(t.Unix(), 60), msg.Sequence, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, 0, fmt.Errorf("read timer cursor: %w", err)
		}
		first, err := s.firstMinute(ctx, now)
		if err != nil {
			return 0, 0, err
		}
		ack, err := s.js.Publish(ctx, timerCursor, minuteBody(first), jetstream.WithExpectLastSequencePerSubject(0))
		if isWrongLastSequence(err) {
			continue // another scanner created it
		}
		if err != nil {
			return 0, 0, fmt.Errorf("create timer cursor: %w", err)
		}
		return first, ack.Sequence, nil
	}
	return 0, 0, errors.New("timer cursor keeps changing")
}

// firstMinute is where a new cursor starts: the earliest minute holding
// an entry, or the last one that may be closed if there is none. Looking
// for the earliest lists the whole index; Setup creates the cursor before
// there is one, so that only happens if the cursor was removed by hand.
func (s *TimerScanner) firstMinute(ctx context.Context, now time.Time) (int64, error) {
	first := floorDiv(now.Add(-s.cfg.Settle).Unix(), 60)
	_, err := s.st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(timerAtPrefix+">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return first, nil
	}
	if err != nil {
		return 0, fmt.Errorf("probe timer index: %w", err)
	}
	s.log.Warn("timer index without a cursor: listing every entry to find the earliest")
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	info, err := s.st.Info(lctx, jetstream.WithSubjectFilter(timerAtPrefix+">"))
	if err != nil {
		return 0, fmt.Errorf("list timer index: %w", err)
	}
	for subj := range info.State.Subjects {
		if e, ok := parseTimerEntry(subj); ok {
			first = min(first, e.minute())
		}
	}
	return first, nil
}

// startTimerCursor creates, on a stream with no cursor and no index entry
// (a new deployment, or one upgraded from the timers before the index), the
// cursor at the current minute, so that it exists before any entry does.
// Every Setup calls it; the first one creates it.
func startTimerCursor(ctx context.Context, js jetstream.JetStream, st jetstream.Stream) error {
	_, err := st.GetLastMsgForSubject(ctx, timerCursor)
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return err
	}
	_, err = st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(timerAtPrefix+">"))
	if err == nil {
		return nil // entries without a cursor: the scanner finds the earliest
	}
	if !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("probe timer index: %w", err)
	}
	_, err = js.Publish(ctx, timerCursor, minuteBody(floorDiv(time.Now().Unix(), 60)), jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil && !isWrongLastSequence(err) {
		return fmt.Errorf("create timer cursor: %w", err)
	}
	return nil
}

// advance moves the cursor from m to m+1 if it is still at revision rev.
func (s *TimerScanner) advance(ctx context.Context, m int64, rev uint64) (uint64, error) {
	ack, err := s.js.Publish(ctx, timerCursor, minuteBody(m+1), jetstream.WithExpectLastSequencePerSubject(rev))
	if isWrongLastSequence(err) {
		return 0, errCursorMoved
	}
	if err != nil {
		return 0, fmt.Errorf("advance timer cursor: %w", err)
	}
	return ack.Sequence, nil
}

func minuteBody(m int64) []byte { return []byte(time.Unix(m*60, 0).UTC().Format(time.RFC3339)) }

// isWrongLastSequence reports a compare-and-swap conflict (a replicated
// stream answers with a code of its own).
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
