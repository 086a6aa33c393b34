package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// The finance report reads the audit trail by time, not from its start.
//
// Each audit records a time: Stripe's created time of the event of a fact
// (a payment's row is in the range by it), or when vpnbill did what it
// records (auditAt). JetStream keeps its own index of stream AUDIT by the
// time it stored each message: a consumer that starts at a time finds the
// first message stored then without a scan. Almost every audit is stored
// within seconds of the time it records, so the audits of [from, to) are
// read from the messages stored in [from − earlyBy, to + lateAfter] (the
// window).
//
// An audit stored more than lateAfter after the time it records (the fact
// of a Stripe event applied days later: Stripe's retries after an outage,
// a catch-up, a replay, a dead letter replayed weeks later; an audit whose
// publication waited for NATS) or more than earlyBy before it (clocks
// apart) is late. The report copies every late audit, once, into stream
// AUDIT_LATE under the month of the time it records
// (events.AuditLateSubject), and reads the months of its range there. A
// cursor there (events.AuditLateCursor) says how far AUDIT was examined;
// every report first examines what was stored since (catch-up), so the
// copies are complete whatever the report's range. No margin has to be
// guessed: lateAfter only trades the window's length for copies, and the
// rule depends only on an audit and the time it was stored, so every
// audit of a range is in exactly one of the two places.
//
// A report therefore reads its window, the audits stored since the
// previous report, and its months' late copies: in proportion to its
// range and the traffic since the previous report, never to the history.
// The first report after an upgrade examines the whole history once.
const (
	// lateAfter: an audit stored more than this after the time it records is copied to AUDIT_LATE.
	lateAfter = 24 * time.Hour
	// earlyBy: an audit stored more than this before the time it records is copied to AUDIT_LATE.
	earlyBy = time.Hour
	// lateCursorVersion: a cursor of another version, or of another rule, is
	// not this release's: AUDIT is examined again from its start.
	lateCursorVersion = 1
	// readBatch: messages pulled at a time.
	readBatch = 1000
	// readIdle bounds the wait for a message the server said is pending.
	readIdle = 10 * time.Second
)

// reportKinds are the audit kinds the report reads: the payments are facts
// applied, and an account made is audited as account.created (what an
// account made and renewed delivered comes from its record).
var reportKinds = []events.AuditKind{events.AuditFactApplied, events.AuditAccountCreated}

// auditAt is the time audit a records: Stripe's created time of the event
// of a fact, else when vpnbill did it.
func auditAt(a events.Audit) time.Time {
	if !a.StripeCreated.IsZero() {
		return a.StripeCreated
	}
	return a.Time
}

// LateRule says which audits a report reads from AUDIT_LATE rather than
// from AUDIT's window: those stored more than After after the time they
// record, or more than Early before it. Report uses DefaultLateRule.
// Another rule is for a benchmark that compresses months into minutes (its
// durations scaled alike); a report under a rule other than the previous
// report's examines the whole trail again.
type LateRule struct{ After, Early time.Duration }

// DefaultLateRule is Report's: a day after, an hour before.
func DefaultLateRule() LateRule { return LateRule{After: lateAfter, Early: earlyBy} }

// late reports whether an audit recording time at and stored at stored is late.
func (r LateRule) late(at, stored time.Time) bool {
	return stored.Sub(at) > r.After || at.Sub(stored) > r.Early
}

// window is when the audits of [from, to) that are not late were stored
// (end zero: to is open, read to the end).
func (r LateRule) window(from, to time.Time) (start, end time.Time) {
	if !to.IsZero() {
		end = to.Add(r.After)
	}
	return from.Add(-r.Early), end
}

// lateCursor is the message under events.AuditLateCursor: AUDIT (the
// stream created at Audit) was examined up to sequence Seq (included) for
// late audits of Kinds, by the rule After and Early.
type lateCursor struct {
	V     int                `json:"v"`
	Seq   uint64             `json:"seq"`
	Audit time.Time          `json:"audit_created"`
	Kinds []events.AuditKind `json:"kinds"`
	After time.Duration      `json:"late_after"`
	Early time.Duration      `json:"early_by"`
}

// ReportStats counts the audits a report decoded, by where it read them,
// and the late audits it copied.
type ReportStats struct {
	Window   int // AUDIT's messages stored in the range's window, before the cursor
	CaughtUp int // AUDIT's messages stored since the previous report
	Late     int // copies read from AUDIT_LATE
	Copied   int // late audits this report copied to AUDIT_LATE
}

// auditsIn returns the audits of reportKinds recording a time in
// [from, to) (to zero: no end), in the order they were stored, each once.
// It first brings AUDIT_LATE up to date. An audit it cannot decode fails
// it if that audit was stored in the range's window (it may be one of the
// range's payments); one stored elsewhere is logged and left out. Without
// stream AUDIT_LATE (a worker older than this release declared the
// streams) it reads the whole of AUDIT, as reports did before.
func (o *Ops) auditsIn(ctx context.Context, from, to time.Time, rule LateRule) ([]events.Audit, ReportStats, error) {
	var (
		st     ReportStats
		out    []events.Audit
		seen   = map[string]bool{}
		ws, we = rule.window(from, to)
		inWin  = func(stored time.Time) bool { return !stored.Before(ws) && (we.IsZero() || !stored.After(we)) }
	)
	keep := func(a events.Audit) {
		// A replay beyond the duplicate window may store an audit twice;
		// a late one is also read from its copy.
		if !seen[a.ID] && inRange(auditAt(a), from, to) {
			seen[a.ID] = true
			out = append(out, a)
		}
	}
	audit, err := o.JS.Stream(ctx, events.StreamAudit)
	if err != nil {
		return nil, st, fmt.Errorf("stream %s: %w", events.StreamAudit, err)
	}
	info, err := audit.Info(ctx)
	if err != nil {
		return nil, st, fmt.Errorf("stream %s: %w", events.StreamAudit, err)
	}
	last := info.State.LastSeq
	idx, err := o.JS.Stream(ctx, events.StreamAuditLate)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		o.reportLog().Warn("stream " + events.StreamAuditLate + " not found (a worker older than this vpnbillctl declared the streams): the report reads all of " + events.StreamAudit)
		err = readStream(ctx, audit, readSpec{subjects: auditSubjects(), startSeq: 1, lastSeq: last}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
			a, err := events.DecodeAudit(m.Data())
			if err != nil {
				return false, fmt.Errorf("audit at %d: %w", meta.Sequence.Stream, err)
			}
			st.Window++
			keep(a)
			return true, nil
		})
		return out, st, err
	}
	if err != nil {
		return nil, st, fmt.Errorf("stream %s: %w", events.StreamAuditLate, err)
	}
	cur, curSeq, err := readLateCursor(ctx, idx, rule, info.Created)
	if err != nil {
		return nil, st, err
	}
	if cur > last {
		cur = 0 // AUDIT was made again since: examine it all
	}
	undecodable := func(meta *jetstream.MsgMetadata, err error) error {
		if inWin(meta.Timestamp) {
			return fmt.Errorf("audit at %d, stored %s: %w", meta.Sequence.Stream, meta.Timestamp.UTC().Format(time.RFC3339), err)
		}
		o.reportLog().Warn("audit left out of the report: it cannot be read", zap.Uint64("seq", meta.Sequence.Stream), zap.Error(err))
		return nil
	}

	// The three reads run at once, each into its own list; the lists are
	// joined in stream order (the window's audits were stored first).
	var (
		wg                   sync.WaitGroup
		window, caught, late []events.Audit
		errs                 [3]error
	)
	inRangeOnly := func(list *[]events.Audit) func(events.Audit) {
		return func(a events.Audit) {
			if inRange(auditAt(a), from, to) {
				*list = append(*list, a)
			}
		}
	}
	// 1. The window, up to where the previous report examined AUDIT: by time.
	if cur > 0 && info.State.Msgs > 0 {
		add := inRangeOnly(&window)
		wg.Go(func() {
			errs[0] = readStream(ctx, audit, readSpec{subjects: auditSubjects(), startTime: ws, lastSeq: min(cur, last)},
				func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
					if !we.IsZero() && meta.Timestamp.After(we) {
						return false, nil
					}
					a, err := events.DecodeAudit(m.Data())
					if err != nil {
						return true, undecodable(meta, err)
					}
					st.Window++
					add(a)
					return true, nil
				})
		})
	}
	// 2. What was stored since: every audit is examined, the late ones
	// copied; only once every copy is stored is the cursor moved (a report
	// that stops before leaves it, and the next examines again).
	if cur < last && info.State.Msgs > 0 {
		if cur == 0 {
			o.reportLog().Info("examining the whole audit trail for late audits, once", zap.Uint64("audits", info.State.Msgs))
		}
		add := inRangeOnly(&caught)
		wg.Go(func() {
			copies := &copier{js: o.JS}
			err := readStream(ctx, audit, readSpec{subjects: auditSubjects(), startSeq: max(cur+1, info.State.FirstSeq), lastSeq: last},
				func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
					a, err := events.DecodeAudit(m.Data())
					if err != nil {
						return true, undecodable(meta, err)
					}
					st.CaughtUp++
					if rule.late(auditAt(a), meta.Timestamp) {
						if err := copies.copy(ctx, a, m.Data()); err != nil {
							return false, err
						}
						st.Copied++
					}
					add(a)
					return true, nil
				})
			if err == nil {
				err = copies.wait(ctx)
			}
			if err == nil {
				c := lateCursor{V: lateCursorVersion, Seq: last, Audit: info.Created, Kinds: reportKinds, After: rule.After, Early: rule.Early}
				err = writeLateCursor(ctx, o.JS, idx, c, curSeq)
			}
			if err == nil {
				o.reportLog().Info("audit trail examined", zap.Uint64("through", last), zap.Int("audits", st.CaughtUp), zap.Int("late", st.Copied))
			}
			errs[1] = err
		})
	}
	// 3. The late audits of the range's months (a copy made by the
	// catch-up meanwhile is also among its audits).
	add := inRangeOnly(&late)
	wg.Go(func() {
		errs[2] = readStream(ctx, idx, readSpec{subjects: lateSubjects(from, to), startSeq: 1}, func(m jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
			a, err := events.DecodeAudit(m.Data())
			if err != nil {
				return false, fmt.Errorf("%s at %d: %w", events.StreamAuditLate, meta.Sequence.Stream, err)
			}
			st.Late++
			add(a)
			return true, nil
		})
	})
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, st, err
	}
	for _, list := range [][]events.Audit{window, caught, late} {
		for _, a := range list {
			keep(a)
		}
	}
	return out, st, nil
}

func (o *Ops) reportLog() *zap.Logger {
	if o.Log != nil {
		return o.Log
	}
	return zap.NewNop()
}

func auditSubjects() []string {
	s := make([]string, len(reportKinds))
	for i, k := range reportKinds {
		s[i] = events.AuditSubject(k)
	}
	return s
}

// lateSubjects are the subjects of AUDIT_LATE holding the late audits of
// [from, to): one per month and kind, or every month's after a year (to
// zero: every month from from's).
func lateSubjects(from, to time.Time) []string {
	var s []string
	first := time.Date(from.UTC().Year(), from.UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	if to.IsZero() || to.Sub(first) > 366*24*time.Hour {
		for _, k := range reportKinds {
			s = append(s, events.AuditLateFilter(k))
		}
		return s
	}
	for m := first; m.Before(to); m = m.AddDate(0, 1, 0) {
		for _, k := range reportKinds {
			s = append(s, events.AuditLateSubject(m, k))
		}
	}
	return s
}

// readLateCursor returns how far AUDIT, created at created, was examined
// under rule (0: not at all, or another AUDIT, or under another rule) and
// the cursor message's sequence.
func readLateCursor(ctx context.Context, idx jetstream.Stream, rule LateRule, created time.Time) (seq, msgSeq uint64, err error) {
	m, err := idx.GetLastMsgForSubject(ctx, events.AuditLateCursor)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", events.AuditLateCursor, err)
	}
	var c lateCursor
	_ = json.Unmarshal(m.Data, &c) // one that does not decode has no version: not this release's
	if c.V != lateCursorVersion || !c.Audit.Equal(created) || !slices.Equal(c.Kinds, reportKinds) || c.After != rule.After || c.Early != rule.Early {
		return 0, m.Sequence, nil // another rule's: examine everything again
	}
	return c.Seq, m.Sequence, nil
}

// writeLateCursor stores c if the cursor is still the message at msgSeq
// (0: none). If another report moved it meanwhile, that report examined
// the same audits: its cursor stands.
func writeLateCursor(ctx context.Context, js jetstream.JetStream, idx jetstream.Stream, c lateCursor, msgSeq uint64) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = js.Publish(ctx, events.AuditLateCursor, data, jetstream.WithExpectLastSequencePerSubject(msgSeq))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", events.AuditLateCursor, err)
	}
	// Only the newest cursor is read.
	if err := idx.Purge(ctx, jetstream.WithPurgeSubject(events.AuditLateCursor), jetstream.WithPurgeKeep(1)); err != nil {
		return fmt.Errorf("%s: %w", events.AuditLateCursor, err)
	}
	return nil
}

// copier copies late audits to AUDIT_LATE: asynchronously, at most
// readBatch unacknowledged at a time, each under its audit's id (two
// reports examining the same audits store one copy).
type copier struct {
	js      jetstream.JetStream
	pending []jetstream.PubAckFuture
}

func (c *copier) copy(ctx context.Context, a events.Audit, data []byte) error {
	if len(c.pending) >= readBatch {
		if err := c.wait(ctx); err != nil {
			return err
		}
	}
	f, err := c.js.PublishMsgAsync(&nats.Msg{Subject: events.AuditLateSubject(auditAt(a), a.Kind), Data: data}, jetstream.WithMsgID(a.ID))
	if err != nil {
		return fmt.Errorf("copy late audit %s: %w", a.ID, err)
	}
	c.pending = append(c.pending, f)
	return nil
}

// wait waits until JetStream acknowledged every copy.
func (c *copier) wait(ctx context.Context) error {
	timeout := time.NewTimer(readIdle)
	defer timeout.Stop()
	defer func() { c.pending = c.pending[:0] }()
	for _, f := range c.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("copy late audit: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("copy late audit: no acknowledgement within %s", readIdle)
		}
	}
	return nil
}

// readSpec is a read of a stream: the messages of subjects from a sequence
// (startSeq) or from the first stored at or after startTime, up to
// sequence lastSeq (0: the last one now).
type readSpec struct {
	subjects  []string
	startSeq  uint64
	startTime time.Time
	lastSeq   uint64
}

// readStream gives fn the messages spec selects, in order, until fn says
// stop (false), none is left, or lastSeq is passed. It pulls them in
// batches through an ordered consumer, so it costs what it reads.
func readStream(ctx context.Context, s jetstream.Stream, spec readSpec, fn func(jetstream.Msg, *jetstream.MsgMetadata) (bool, error)) (err error) {
	name := s.CachedInfo().Config.Name
	start := spec.startSeq
	if start == 0 {
		var ok bool
		if start, ok, err = seqAt(ctx, s, spec.startTime); err != nil || !ok {
			return err
		}
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: spec.subjects,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start})
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(readBatch))
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	defer it.Stop()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := it.Next(jetstream.NextMaxWait(readIdle))
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if spec.lastSeq > 0 && meta.Sequence.Stream > spec.lastSeq {
			return nil
		}
		more, err := fn(m, meta)
		if err != nil || !more {
			return err
		}
		if meta.NumPending == 0 || meta.Sequence.Stream == spec.lastSeq {
			return nil
		}
	}
}

// seqAt returns the sequence of the first message of s stored at or after
// t, found by JetStream's time index (false: none). It asks without a
// filter: with several filter subjects, nats-server 2.15 starts a consumer
// by time at the first message of a filter that begins after t, past the
// earlier messages of the others (consumer.go, selectStartingSeqNo).
func seqAt(ctx context.Context, s jetstream.Stream, t time.Time) (uint64, bool, error) {
	name := s.CachedInfo().Config.Name
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &t, HeadersOnly: true})
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	defer it.Stop()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return 0, false, nil
	}
	m, err := it.Next(jetstream.NextMaxWait(readIdle))
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	meta, err := m.Metadata()
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", name, err)
	}
	return meta.Sequence.Stream, true, nil
}

// records returns every account record, read in one pass over the
// bucket's latest values (a watch), not a request per record. Keys with
// a dot are the bucket's indexes and pins, never records (see
// provisioning's key layout), so the watch asks for single-token keys.
func (o *Ops) records(ctx context.Context) ([]*provisioning.Record, error) {
	kv, err := o.JS.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	w, err := kv.Watch(ctx, "*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	defer func() { _ = w.Stop() }()
	var recs []*provisioning.Record
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // every current value was delivered
				return recs, nil
			}
			r, err := provisioning.DecodeRecord(e.Value())
			if err != nil {
				return nil, fmt.Errorf("decode record %s: %w", e.Key(), err)
			}
			recs = append(recs, r)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
