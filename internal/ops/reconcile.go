package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// DriftKind names one way an account record and its provider disagree.
// The names are stable: scripts match on them.
type DriftKind string

// The drift kinds `vpnbillctl reconcile` reports.
const (
	// DriftMissingAccount: the record says the account exists; the provider does not have it.
	DriftMissingAccount DriftKind = "missing_account"
	// DriftOrphanTunnel: an account listed by a provider that lists them (e.g. a
	// VPNKI tunnel) that no record has as its username and no record claimed.
	DriftOrphanTunnel DriftKind = "orphan_tunnel"
	// DriftEnabledShouldBeSuspended: the record is suspended past its grace
	// period, canceled or refunded, and the provider's account is enabled.
	DriftEnabledShouldBeSuspended DriftKind = "enabled_should_be_suspended"
	// DriftDisabledShouldBeEnabled: the record is active and the provider's account is disabled.
	DriftDisabledShouldBeEnabled DriftKind = "disabled_should_be_enabled"
	// DriftExpiryShort: the expiry a provider keeps (e.g. PureVPN's) is more
	// than 72 h short of the paid-through time of an active record.
	DriftExpiryShort DriftKind = "expiry_short"
	// DriftShouldBeDeleted: the record is canceled or refunded past its
	// deletion time, or the paid time of an account whose provider keeps no
	// expiry (e.g. VPNKI's) or of a one-off order ran out, and the account
	// still exists.
	DriftShouldBeDeleted DriftKind = "should_be_deleted"
	// DriftUnexpectedAccount: the record says its account does not exist
	// (deleted, or never made), and the provider has it.
	DriftUnexpectedAccount DriftKind = "unexpected_account"
	// DriftReviewOpen: the record waits for an operator's decision.
	DriftReviewOpen DriftKind = "review_open"
	// DriftRefundDue: an operator gave up delivering; the payment is to refund.
	DriftRefundDue DriftKind = "refund_due"
	// DriftStuckStep: a step in flight started, or a lease held on a record
	// not written, more than StuckAfter ago.
	DriftStuckStep DriftKind = "stuck_step"
	// DriftOwedEmail: emails pending on a record not written for StuckAfter.
	DriftOwedEmail DriftKind = "owed_email"
	// DriftStatusUnknown: the provider could not be asked about the account.
	DriftStatusUnknown DriftKind = "status_unknown"
)

// Drift is one disagreement, with what fixes it.
type Drift struct {
	Key      string    `json:"key"` // the record key; empty for an orphan tunnel
	Provider string    `json:"provider,omitempty"`
	Username string    `json:"username,omitempty"`
	Kind     DriftKind `json:"kind"`
	Detail   string    `json:"detail"`
	// Remedy: what an operator runs or does to fix it.
	Remedy string `json:"remedy"`
	// Fixed: --fix corrected it; Action says what it did (or why it could not).
	Fixed  bool   `json:"fixed"`
	Action string `json:"action,omitempty"`
}

// ReconcileOptions configures Reconcile.
type ReconcileOptions struct {
	// Providers to check, by name. A record whose provider is missing is
	// reported status_unknown.
	Providers map[providers.Name]provisioning.Provider
	// Fix corrects the fixable drift (a row whose Remedy is `vpnbillctl
	// reconcile --fix`: enabled_should_be_suspended,
	// disabled_should_be_enabled, expiry_short) through Refresher: one
	// Refresh of the record, the worker's own steps under its lease. Nothing
	// is ever created or deleted.
	Fix bool
	// Refresher corrects a record for Fix; required with Fix.
	Refresher Refresher
	// Grace: the worker's GRACE_PERIOD, for the end of accounts whose
	// provider keeps no expiry and of one-off orders. Zero is zero; nil is
	// the worker's default (72h).
	Grace *time.Duration
	// LeaseWait: how long a fix waits for a record whose lease a worker
	// holds before it reports the record busy (not fixed). Zero: it does
	// not wait. Default (nil) 30s.
	LeaseWait *time.Duration
	// StuckAfter: how old a step, lease or pending email must be to be
	// reported. Default 10m.
	StuckAfter time.Duration
	// OnFix, if set, is called after each fix attempt.
	OnFix func(Drift)
	// Progress, if set, is called as the run goes: once the records are
	// read (Checked 0), after each record, and once at the end. It runs on
	// Reconcile's goroutine and must return quickly.
	Progress func(ReconcileProgress)
	// By names who runs it, for the recorded run (ReconcileRun.By):
	// "vpnbillctl", "console:<user>". Default "unknown".
	By string
}

// ReconcileProgress is how far a reconcile run is.
type ReconcileProgress struct {
	Records int `json:"records"` // account records to check
	Checked int `json:"checked"` // of those, checked so far
	Drift   int `json:"drift"`   // drift rows found so far
	Fixed   int `json:"fixed"`   // of those, fixed
}

// Refresher corrects one account record through the worker's step machine
// (a *provisioning.Service): under the record's lease it reads the account
// at the provider, then takes the steps the record's rules want, never one
// that creates or deletes an account. While another process holds the
// lease it returns a *provisioning.LeasedError and does nothing.
type Refresher interface {
	Refresh(ctx context.Context, key string) (provisioning.Refreshed, error)
}

// defaultLeaseWait is how long a fix waits for a record's lease by default;
// leaseRetry, how often it tries again meanwhile.
const (
	defaultLeaseWait = 30 * time.Second
	leaseRetry       = 250 * time.Millisecond
)

// ReconcileReport is what Reconcile found.
type ReconcileReport struct {
	Records int     `json:"records"` // account records checked
	Tunnels int     `json:"tunnels"` // accounts listed by providers that list them
	Drift   []Drift `json:"drift"`
}

// Fixable reports whether the row is one the safe fixes (`vpnbillctl
// reconcile --fix`, ReconcileOptions.Fix) correct: a row of a run without
// Fix whose Remedy is that command. A row of a run with Fix that was not
// fixed says why in its Action and Remedy instead.
func (d Drift) Fixable() bool { return d.Remedy == remedyFixable }

// Unfixed counts the drift rows not fixed.
func (r ReconcileReport) Unfixed() int {
	n := 0
	for _, d := range r.Drift {
		if !d.Fixed {
			n++
		}
	}
	return n
}

// storedRecord is a record with the time of its last write.
type storedRecord struct {
	*provisioning.Record
	written time.Time
}

// Reconcile compares every account record with its provider: one list in
// all of a provider that can list (e.g. VPNKI's tunnels), one status call
// per account of the others (e.g. PureVPN). A failed
// provider call is reported (status_unknown, with its class) and the rest
// are still checked. With opts.Fix, each record with fixable drift is
// refreshed once (opts.Refresher): the worker's steps suspend, resume or
// renew it, audited; everything else is reported with its remedy.
//
// Every run that is not canceled is recorded in stream AUDIT, as
// ReconcileRun says (LastReconcile reads the newest), whether it found
// drift or stopped on an error. If the record of a run that did not fail
// cannot be stored, the whole report is returned with an error wrapping
// ErrRunNotRecorded (and only then does an error wrap it).
func (o *Ops) Reconcile(ctx context.Context, opts ReconcileOptions) (ReconcileReport, error) {
	if opts.Fix && opts.Refresher == nil {
		return ReconcileReport{}, fmt.Errorf("reconcile: fixing needs provisioning, which is %w", ErrNotConfigured)
	}
	started := o.now()
	rep, err := o.reconcile(ctx, opts)
	if ctx.Err() != nil {
		return rep, err // canceled: not a run to record
	}
	rerr := o.recordRun(ctx, opts, started, rep, err)
	switch {
	case err != nil:
		if rerr != nil && o.Log != nil {
			o.Log.Warn("reconcile: the failed run was not recorded", zap.Error(rerr))
		}
		return rep, err
	case rerr != nil:
		return rep, rerr // the report is whole; only its record is missing
	}
	return rep, nil
}

func (o *Ops) reconcile(ctx context.Context, opts ReconcileOptions) (ReconcileReport, error) {
	// Unset is the worker's default; zero is zero.
	opts.Grace = provisioning.Config{GracePeriod: opts.Grace}.WithDefaults().GracePeriod
	if opts.LeaseWait == nil {
		opts.LeaseWait = new(defaultLeaseWait)
	}
	if opts.StuckAfter <= 0 {
		opts.StuckAfter = 10 * time.Minute
	}
	recs, claims, err := o.readAccounts(ctx)
	if err != nil {
		return ReconcileReport{}, err
	}
	now := o.now()
	rep := ReconcileReport{Records: len(recs), Drift: []Drift{}}
	fixed := 0
	add := func(d Drift) {
		rep.Drift = append(rep.Drift, d)
		if d.Fixed {
			fixed++
		}
	}
	progress := func(checked int) {
		if opts.Progress != nil {
			opts.Progress(ReconcileProgress{Records: len(recs), Checked: checked, Drift: len(rep.Drift), Fixed: fixed})
		}
	}
	progress(0)

	// A provider that can list what exists (VPNKI) is read with one list
	// for every account; the others with a status call per account.
	listed := map[string]*listing{}
	for name, p := range opts.Providers {
		if !p.Capabilities().List {
			continue
		}
		l := &listing{}
		listed[string(name)] = l
		all, err := p.List(ctx)
		if err != nil {
			l.err = err
			continue
		}
		l.accounts = make(map[string]provisioning.Remote, len(all))
		for _, a := range all {
			l.accounts[a.Username] = a
		}
		rep.Tunnels += len(all)
	}

	for i, r := range recs {
		if i > 0 {
			progress(i)
		}
		o.recordDrift(r, now, opts, add)
		name := providerOf(r.Record)
		for _, old := range r.Actual.Retired { // to delete, at their own provider
			at := old.Provider
			if at == "" {
				at = name
			}
			if l := listed[at]; l != nil {
				l.known(old.Username)
			}
		}
		if l := listed[name]; l != nil {
			if r.Actual.Username != "" {
				l.known(r.Actual.Username)
			}
			for _, st := range []*provisioning.Step{r.Adopt, r.Step} {
				if st != nil && (st == r.Adopt || st.Name == "create") && (l.pendingSince.IsZero() || st.Started.Before(l.pendingSince)) {
					l.pendingSince = st.Started
				}
			}
		}
		if r.Actual.Username == "" {
			continue
		}
		p, ok := opts.Providers[providers.Name(name)]
		if !ok {
			add(Drift{Key: r.Key, Provider: name, Username: r.Actual.Username, Kind: DriftStatusUnknown,
				Detail: "provider not configured", Remedy: remedyUnknown})
			continue
		}
		var remote provisioning.Remote
		l := listed[name]
		switch {
		case l != nil && l.err != nil:
			add(Drift{Key: r.Key, Provider: name, Username: r.Actual.Username, Kind: DriftStatusUnknown,
				Detail: "list: " + classOf(l.err), Remedy: remedyUnknown})
			continue
		case l != nil:
			remote = l.accounts[r.Actual.Username]
			remote.Username = r.Actual.Username
		default:
			if remote, err = p.Lookup(ctx, r.Actual.Username); err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				add(Drift{Key: r.Key, Provider: name, Username: r.Actual.Username, Kind: DriftStatusUnknown,
					Detail: "status: " + classOf(err), Remedy: remedyUnknown})
				continue
			}
		}
		rows := compare(r.Record, remote, p.Capabilities(), now, *opts.Grace)
		if opts.Fix {
			o.fix(ctx, opts, r.Record, p.Capabilities(), now, rows)
		}
		for _, d := range rows {
			if d.Action != "" && opts.OnFix != nil {
				opts.OnFix(d)
			}
			add(d)
		}
	}

	for provider, l := range listed {
		if l.err != nil {
			add(Drift{Provider: provider, Kind: DriftStatusUnknown,
				Detail: "list: " + classOf(l.err) + " (orphan accounts not checked)", Remedy: remedyUnknown})
			continue
		}
		for name, t := range l.accounts {
			if l.names[name] || claims[provider][name] != "" {
				continue
			}
			// An account made since a create or adoption in flight may be
			// that order's: the worker adopts it or deletes it.
			if !l.pendingSince.IsZero() && !t.Created.IsZero() && !t.Created.Before(l.pendingSince.Add(-time.Minute)) {
				continue
			}
			detail := "no record has this account"
			if !t.Created.IsZero() {
				detail += ", created " + t.Created.UTC().Format(time.RFC3339)
			}
			add(Drift{Provider: provider, Username: name, Kind: DriftOrphanTunnel, Detail: detail,
				Remedy: "find its owner (vpnbillctl accounts show <email>); if nobody's, delete it at the provider"})
		}
	}
	slices.SortStableFunc(rep.Drift, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Username, b.Username), cmp.Compare(a.Kind, b.Kind))
	})
	progress(len(recs))
	return rep, nil
}

const (
	remedyFixable = "vpnbillctl reconcile --fix"
	remedyUnknown = "run vpnbillctl reconcile again; check the provider's variables and reachability"
	remedyWorker  = "the worker's timer does it (reconcile --fix never deletes): check the worker runs and vpnbillctl dead list"
)

// listing is what a provider that can list holds, and what the records
// say of it.
type listing struct {
	accounts     map[string]provisioning.Remote
	err          error
	names        map[string]bool // accounts some record names
	pendingSince time.Time       // the earliest create or adoption in flight there
}

func (l *listing) known(username string) {
	if l.names == nil {
		l.names = map[string]bool{}
	}
	l.names[username] = true
}

// readAccounts returns every record with its last write time, and the
// claims (provider → username → record key).
func (o *Ops) readAccounts(ctx context.Context) ([]storedRecord, map[string]map[string]string, error) {
	kv, err := o.JS.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, map[string]map[string]string{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
	}
	claims := map[string]map[string]string{}
	var recs []storedRecord
	for _, k := range keys {
		provider, username, isClaim := provisioning.ClaimOf(k)
		switch {
		case isClaim:
			e, err := kv.Get(ctx, k)
			if err == nil {
				if claims[provider] == nil {
					claims[provider] = map[string]string{}
				}
				claims[provider][username] = string(e.Value())
			} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil, nil, fmt.Errorf("claim %s: %w", k, err)
			}
		case strings.Contains(k, "."):
			// indexes and other claims
		default:
			e, err := kv.Get(ctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("get record %s: %w", k, err)
			}
			r, err := provisioning.DecodeRecord(e.Value())
			if err != nil {
				return nil, nil, fmt.Errorf("decode record %s: %w", k, err)
			}
			recs = append(recs, storedRecord{Record: r, written: e.Created()})
		}
	}
	return recs, claims, nil
}

// providerOf is the provider the record's account is (or would be) at.
func providerOf(r *provisioning.Record) string {
	if r.Actual.Provider != "" {
		return r.Actual.Provider
	}
	return r.Desired.Plan.Provider
}

// recordDrift reports what the record alone shows: review, refund due, a
// stuck step or lease, emails owed for too long.
func (o *Ops) recordDrift(r storedRecord, now time.Time, opts ReconcileOptions, add func(Drift)) {
	base := Drift{Key: r.Key, Provider: providerOf(r.Record), Username: r.Actual.Username}
	if r.Review != nil {
		d := base
		d.Kind, d.Detail = DriftReviewOpen, fmt.Sprintf("since %s: %s", r.Review.Since.UTC().Format(time.RFC3339), r.Review.Reason)
		d.Remedy = fmt.Sprintf("look the customer up at the provider, then vpnbillctl review resolve %s --adopt USERNAME | --retry | --give-up", r.Key)
		add(d)
	}
	if r.RefundDue {
		d := base
		d.Kind, d.Detail = DriftRefundDue, "delivery was given up"
		d.Remedy = "refund the payment in Stripe (vpnbillctl report lists it as refund_due)"
		add(d)
	}
	stale := now.Sub(r.written) > opts.StuckAfter
	const stuckRemedy = "the worker recovers it at the record's next event or timer: check the worker runs and vpnbillctl dead list; vpnbillctl replay --since <time> re-drives it"
	switch {
	case r.Step != nil && now.Sub(r.Step.Started) > opts.StuckAfter:
		d := base
		d.Kind, d.Detail = DriftStuckStep, fmt.Sprintf("step %s since %s", r.Step.Name, r.Step.Started.UTC().Format(time.RFC3339))
		d.Remedy = stuckRemedy
		add(d)
	case r.Lease != nil && stale:
		d := base
		d.Kind, d.Detail = DriftStuckStep, fmt.Sprintf("lease of %s, record not written since %s", r.Lease.Owner, r.written.UTC().Format(time.RFC3339))
		d.Remedy = stuckRemedy
		add(d)
	}
	if len(r.Mail) > 0 && stale {
		ids := make([]string, 0, len(r.Mail))
		for _, m := range r.Mail {
			ids = append(ids, m.ID)
		}
		d := base
		d.Kind = DriftOwedEmail
		d.Detail = fmt.Sprintf("%s pending, record not written since %s", strings.Join(ids, ", "), r.written.UTC().Format(time.RFC3339))
		d.Remedy = "check SMTP and vpnbillctl dead list; the worker sends it at the record's next event or timer"
		add(d)
	}
}

// compare returns the drift between record r and what the provider holds.
// A fixable row's Remedy is remedyFixable.
func compare(r *provisioning.Record, remote provisioning.Remote, caps providers.Capabilities, now time.Time, grace time.Duration) []Drift {
	base := Drift{Key: r.Key, Provider: providerOf(r), Username: r.Actual.Username}
	var out []Drift
	row := func(kind DriftKind, detail, remedy string) {
		d := base
		d.Kind, d.Detail, d.Remedy = kind, detail, remedy
		out = append(out, d)
	}
	d, a := &r.Desired, &r.Actual
	if a.Exists && !remote.Exists {
		remedy := "vpnbillctl accounts show " + r.Key + "; look at " + base.Provider + ", then recreate it by hand or refund"
		if !caps.Suspend { // a reset replaces the account (a provider without suspend)
			remedy = "vpnbillctl resend " + r.Key + " (makes a new account and emails it)"
		}
		row(DriftMissingAccount, "the record says it exists; the provider has no such account", remedy)
	}
	if !remote.Exists {
		return out
	}
	if !a.Exists {
		row(DriftUnexpectedAccount, fmt.Sprintf("the record says it does not exist (deleted: %t); the provider has it", a.Deleted),
			"vpnbillctl accounts show "+r.Key+"; delete it at the provider by hand if it is not owed")
	}
	// What the provider should hold is the account core's answer, the
	// same the worker acts on.
	w, _ := account.TargetOf(r.State(), caps, now, account.Policy{Grace: grace})
	switch {
	case w == account.TargetDisabled && remote.Enabled:
		remedy := remedyFixable
		if !caps.Suspend {
			remedy = base.Provider + " suspends by deleting the account: " + remedyWorker
		}
		row(DriftEnabledShouldBeSuspended, fmt.Sprintf("desired %s (suspend at %s, delete at %s); enabled at the provider",
			d.Status, fmtTime(d.SuspendAt), fmtTime(d.DeleteAt)), remedy)
	case w == account.TargetDeleted && remote.Enabled && caps.Suspend:
		// The record's next step is the deletion, the worker's: --fix,
		// which takes the record's own steps, never deletes.
		row(DriftEnabledShouldBeSuspended, fmt.Sprintf("desired %s, delete at %s; enabled at the provider", d.Status, fmtTime(d.DeleteAt)), remedyWorker)
	case w == account.TargetEnabled && !remote.Enabled && caps.Suspend && a.Exists:
		row(DriftDisabledShouldBeEnabled, "desired "+string(d.Status)+"; disabled at the provider", remedyFixable)
	}
	if w == account.TargetEnabled && caps.Renew && a.Exists && !d.OneOff && d.Status == provisioning.StatusActive &&
		account.Short(d.PaidThrough, remote.Expiry) {
		row(DriftExpiryShort, fmt.Sprintf("expiry %s, paid through %s", fmtTime(remote.Expiry), fmtTime(d.PaidThrough)), remedyFixable)
	}
	if w == account.TargetDeleted {
		why := fmt.Sprintf("desired %s, delete at %s", d.Status, fmtTime(d.DeleteAt))
		if d.Status == provisioning.StatusActive {
			why = fmt.Sprintf("paid through %s plus the grace period has passed", fmtTime(d.PaidThrough))
		}
		row(DriftShouldBeDeleted, why+"; the account still exists", remedyWorker)
	}
	return out
}

// fix corrects r's fixable rows (those whose Remedy is remedyFixable) with
// one Refresh of the record: the record's own rules, in the worker's step
// machine, decide what to do. A row is fixed when the account, as Refresh
// read it and its steps left it, no longer shows that drift. fix sets each
// fixable row's Fixed and Action (and, if not fixed, its Remedy).
func (o *Ops) fix(ctx context.Context, opts ReconcileOptions, r *provisioning.Record, caps providers.Capabilities, now time.Time, rows []Drift) {
	if !slices.ContainsFunc(rows, func(d Drift) bool { return d.Remedy == remedyFixable }) {
		return
	}
	rf, err := o.refresh(ctx, opts, r.Key)
	left := map[DriftKind]bool{}
	if rf.Read {
		for _, d := range compare(r, rf.Account, caps, now, *opts.Grace) {
			left[d.Kind] = true
		}
	}
	action := describe(rf, err)
	for i := range rows {
		d := &rows[i]
		if d.Remedy != remedyFixable {
			continue
		}
		d.Fixed, d.Action = rf.Read && !left[d.Kind], action
		if !d.Fixed {
			d.Remedy = remedyUnfixed(r.Key, err)
		}
	}
}

// remedyUnfixed is what to do about a fixable row a Refresh did not fix.
func remedyUnfixed(key string, err error) string {
	switch {
	case errors.Is(err, provisioning.ErrLeftToWorker):
		return remedyWorker
	case errors.Is(err, provisioning.ErrAccountMissing):
		return "vpnbillctl reconcile again: the account is reported missing_account, with its remedy"
	case errors.Is(err, provisioning.ErrInReview):
		return "vpnbillctl review resolve " + key + " --adopt USERNAME | --retry | --give-up"
	case err == nil:
		return "vpnbillctl accounts show " + key + ": the record's rules want no step now"
	}
	return "vpnbillctl reconcile --fix again, once the provider answers and no worker holds the record"
}

// refresh refreshes the record with key, trying again while a worker holds
// its lease, for up to opts.LeaseWait.
func (o *Ops) refresh(ctx context.Context, opts ReconcileOptions, key string) (provisioning.Refreshed, error) {
	deadline := time.Now().Add(*opts.LeaseWait)
	for {
		rf, err := opts.Refresher.Refresh(ctx, key)
		wait := time.Until(deadline)
		if !errors.Is(err, provisioning.ErrLeased) || wait <= 0 {
			return rf, err
		}
		t := time.NewTimer(min(wait, leaseRetry))
		select {
		case <-ctx.Done():
			t.Stop()
			return rf, err
		case <-t.C:
		}
	}
}

// describe says what a Refresh did, and why it stopped if it did: changes
// at the provider, the steps taken, never an error's text.
func describe(rf provisioning.Refreshed, err error) string {
	var parts []string
	if rf.Read {
		f, a := rf.Found, rf.Account
		switch {
		case f.Enabled && !a.Enabled:
			parts = append(parts, "suspended (disabled) at the provider")
		case !f.Enabled && a.Enabled:
			parts = append(parts, "resumed (enabled) at the provider")
		}
		if !a.Expiry.Equal(f.Expiry) {
			parts = append(parts, fmt.Sprintf("renewed: expiry %s, was %s", fmtTime(a.Expiry), fmtTime(f.Expiry)))
		}
		if len(parts) == 0 {
			parts = append(parts, "nothing to change at the provider")
		}
		parts = append(parts, "steps: "+strings.Join(rf.Steps, ", "))
	}
	var leased *provisioning.LeasedError
	switch {
	case err == nil:
	case errors.As(err, &leased):
		parts = append(parts, "busy: a worker holds the record until "+fmtTime(leased.Until))
	case errors.Is(err, provisioning.ErrAccountMissing):
		parts = append(parts, "the provider has no such account (missing_account)")
	case errors.Is(err, provisioning.ErrLeftToWorker):
		parts = append(parts, "stopped before "+rf.Left+", which is the worker's (--fix never creates or deletes)")
	case errors.Is(err, provisioning.ErrInReview):
		parts = append(parts, "not touched: the record is in review")
	case errors.Is(err, provisioning.ErrNoAccount):
		parts = append(parts, "not touched: the record has no account at the provider")
	case rf.Failed != "":
		parts = append(parts, rf.Failed+" failed: "+classOf(err))
	default:
		parts = append(parts, "failed: "+classOf(err))
	}
	return strings.Join(parts, "; ")
}

// classOf names a provider error's class, never its text.
func classOf(err error) string {
	if c := providers.ClassOf(err); c != 0 {
		return c.String()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "canceled"
	}
	return "other"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
