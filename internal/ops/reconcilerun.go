package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// The result of every reconcile run, wherever it ran (vpnbillctl
// reconcile, the console's reconcile page), is recorded in one place:
// stream AUDIT, as an audit of kind AuditReconcileRun, published by
// Reconcile itself. The audit is a version-1 events.Audit (every reader of
// AUDIT decodes it as one: Account is empty, Status is "clean", "drift" or
// "failed", Reason a one-line summary that starts with who ran it) with
// one more member, "reconcile", holding the ReconcileRun. LastReconcile
// reads the newest with one lookup by subject (audit.reconcile.run), so
// the overview costs nothing in proportion to the history.

// AuditReconcileRun is the kind of the audit of a reconcile run
// (events.AuditReconcileRun, declared with the other kinds).
const AuditReconcileRun = events.AuditReconcileRun

// runRows bounds the drift rows a recorded run keeps: the unfixed first,
// then the fixed. The counts are always complete.
const runRows = 200

// ReconcileRun is a reconcile run's recorded result.
type ReconcileRun struct {
	ID       string    `json:"id"`       // the audit's id
	Started  time.Time `json:"started"`  //
	Finished time.Time `json:"finished"` // when it was recorded
	// By: who ran it (ReconcileOptions.By), e.g. "vpnbillctl", "console:alice".
	By string `json:"by"`
	// Fix: the run applied the safe fixes (vpnbillctl reconcile --fix).
	Fix     bool `json:"fix"`
	Records int  `json:"records"` // account records checked
	Tunnels int  `json:"tunnels"` // accounts listed by providers that list them
	Drift   int  `json:"drift"`   // drift rows found
	Unfixed int  `json:"unfixed"` // of those, not fixed
	// Fixable: of the unfixed rows, those the safe fixes correct.
	Fixable int               `json:"fixable"`
	Kinds   map[DriftKind]int `json:"kinds,omitempty"` // rows by kind
	// Rows: the drift rows, unfixed first, at most runRows of them;
	// RowsOmitted counts the rest.
	Rows        []Drift `json:"rows,omitempty"`
	RowsOmitted int     `json:"rows_omitted,omitempty"`
	// Failed: the error that stopped the run; its counts are what it had
	// found by then.
	Failed string `json:"failed,omitempty"`
}

// Status is the recorded run's outcome: "failed", "drift" (unfixed rows
// remain) or "clean".
func (r ReconcileRun) Status() string {
	switch {
	case r.Failed != "":
		return "failed"
	case r.Unfixed > 0:
		return "drift"
	}
	return "clean"
}

// ErrRunNotRecorded means a reconcile run finished but its result could
// not be stored in AUDIT: the report returned with it is still the run's.
var ErrRunNotRecorded = errors.New("the reconcile run's result was not recorded")

// runAudit is the stored form: an audit and the run.
type runAudit struct {
	events.Audit
	Run ReconcileRun `json:"reconcile"`
}

// newRun summarizes a run's report (and its error, if it stopped on one).
func newRun(opts ReconcileOptions, started, finished time.Time, rep ReconcileReport, runErr error) ReconcileRun {
	id := make([]byte, 6)
	_, _ = rand.Read(id) // crypto/rand.Read never fails (Go 1.24)
	run := ReconcileRun{ID: fmt.Sprintf("%s:%d:%s", AuditReconcileRun, finished.UnixNano(), hex.EncodeToString(id)),
		Started: started.UTC(), Finished: finished.UTC(), By: opts.By, Fix: opts.Fix,
		Records: rep.Records, Tunnels: rep.Tunnels, Drift: len(rep.Drift), Unfixed: rep.Unfixed()}
	if run.By == "" {
		run.By = "unknown"
	}
	if runErr != nil {
		run.Failed = runErr.Error()
	}
	rows := slices.Clone(rep.Drift)
	slices.SortStableFunc(rows, func(a, b Drift) int { // unfixed first
		switch {
		case a.Fixed == b.Fixed:
			return 0
		case !a.Fixed:
			return -1
		}
		return 1
	})
	for _, d := range rows {
		if run.Kinds == nil {
			run.Kinds = map[DriftKind]int{}
		}
		run.Kinds[d.Kind]++
		if !d.Fixed && d.Fixable() {
			run.Fixable++
		}
	}
	if len(rows) > runRows {
		run.RowsOmitted, rows = len(rows)-runRows, rows[:runRows]
	}
	run.Rows = rows
	return run
}

// summary is the recorded run in one line, for the audit's Reason.
func (r ReconcileRun) summary() string {
	fix := ""
	if r.Fix {
		fix = " (fix)"
	}
	s := fmt.Sprintf("%s%s: %d records, %d tunnels checked; %d drift, %d unfixed", r.By, fix, r.Records, r.Tunnels, r.Drift, r.Unfixed)
	if r.Failed != "" {
		s += "; stopped: " + r.Failed
	}
	return s
}

// recordRun stores the run's result in AUDIT.
func (o *Ops) recordRun(ctx context.Context, opts ReconcileOptions, started time.Time, rep ReconcileReport, runErr error) error {
	run := newRun(opts, started, o.now(), rep, runErr)
	a := runAudit{Audit: events.Audit{V: events.AuditVersion, ID: run.ID, Kind: AuditReconcileRun, Time: run.Finished,
		Status: run.Status(), Reason: run.summary()}, Run: run}
	data, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRunNotRecorded, err)
	}
	if _, err := events.Publish(ctx, o.JS, events.AuditSubject(AuditReconcileRun), run.ID, data, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrRunNotRecorded, err)
	}
	return nil
}

// LastReconcile returns the newest recorded reconcile run, from whichever
// tool ran it; false if none is recorded (or AUDIT no longer keeps it).
func (o *Ops) LastReconcile(ctx context.Context) (ReconcileRun, bool, error) {
	s, err := o.JS.Stream(ctx, events.StreamAudit)
	if err != nil {
		return ReconcileRun{}, false, fmt.Errorf("stream %s: %w", events.StreamAudit, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, events.AuditSubject(AuditReconcileRun))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return ReconcileRun{}, false, nil
	}
	if err != nil {
		return ReconcileRun{}, false, fmt.Errorf("last reconcile run: %w", err)
	}
	if _, err := events.DecodeAudit(m.Data); err != nil {
		return ReconcileRun{}, false, fmt.Errorf("last reconcile run: %w", err)
	}
	var a runAudit
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return ReconcileRun{}, false, fmt.Errorf("last reconcile run: %w", err)
	}
	return a.Run, true, nil
}
