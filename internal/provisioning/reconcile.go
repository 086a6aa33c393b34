package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/account"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// errStale means the record changed between deciding a step and writing its
// intent; the loop decides again.
var errStale = errors.New("record changed; deciding again")

// maxSteps bounds one reconcile pass; a record needs a handful at most.
const maxSteps = 30

// Reconcile drives the provider toward the record's desired state under a
// lease, one persisted step at a time, then publishes the record's audit
// outbox and schedules its next timer. It returns a *LeasedError if another
// worker holds the record. Reconciling a record with nothing to do is cheap
// and changes nothing.
func (s *Service) Reconcile(ctx context.Context, key string) error {
	return s.reconcileFrom(ctx, key, snapshot{})
}

// reconcileFrom is Reconcile starting from the record as last read or
// written (a snapshot; none: it is read).
func (s *Service) reconcileFrom(ctx context.Context, key string, from snapshot) error {
	done, outboxOnly, read, err := s.settled(ctx, key, from)
	if done || err != nil {
		return err
	}
	if outboxOnly {
		// Nothing to drive (a fact changed the record but not what the
		// provider should hold): publish its audits, no lease needed.
		return s.flushFrom(ctx, key, read)
	}
	unlock, err := s.locks.lockWithin(ctx, key, s.cfg.LockWait)
	if err != nil {
		return err
	}
	defer unlock()
	p, r, err := s.acquireFrom(ctx, key, read)
	if err != nil {
		return err
	}
	return p.run(ctx, r)
}

// run drives r, the record as the pass took its lease, and finishes the
// pass (or releases the lease after a failure).
func (s *pass) run(ctx context.Context, r *Record) error {
	defer s.release()
	r, err := s.drive(ctx, r)
	if err != nil {
		// What the step wrote (its audit included) is published
		// before the failure is reported.
		return errors.Join(err, s.flush(ctx, s.key, r))
	}
	return s.finish(ctx, r)
}

// finish ends a pass whose steps all succeeded, in one write: it publishes
// the record's audit outbox, stores the timer of its next wake-up, then
// removes what was published, notes the timer (TimerAt, written only after
// the timer is stored) and releases the lease.
func (s *pass) finish(ctx context.Context, r *Record) error {
	if s.released {
		return s.finishErr // the last step's result finished the pass (resultFinish)
	}
	if r == nil {
		return nil
	}
	published, pubErr := events.PublishAudits(ctx, s.js, r.Outbox)
	wake, timer := s.nextTimer(r)
	if timer {
		if err := events.ScheduleTimer(ctx, s.js, s.key, wake); err != nil {
			return errors.Join(pubErr, err) // the lease is released by Reconcile's deferred release
		}
	}
	_, err := s.update(ctx, func(r *Record) error {
		n := len(r.Outbox)
		r.Outbox = slices.DeleteFunc(r.Outbox, func(a events.Audit) bool { return slices.Contains(published, a.ID) })
		changed := len(r.Outbox) != n
		if timer && !r.TimerAt.Equal(wake) {
			r.TimerAt, changed = wake, true
		}
		if s.holds(r) {
			r.Lease, changed = nil, true
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	if err == nil {
		s.released = true
	}
	return errors.Join(pubErr, err)
}

// nextTimer is r's next wake-up (to the second) and whether its timer
// must be stored: r's TimerAt does not note it yet.
func (s *pass) nextTimer(r *Record) (wake time.Time, store bool) {
	wake = s.wake(r, s.cfg.Now())
	if !wake.IsZero() {
		wake = events.CeilSecond(wake)
	}
	return wake, !wake.IsZero() && !wake.Equal(r.TimerAt)
}

// drive takes the record's next steps, as nextStep decides them, until none
// is due, maxSteps were taken, or the pass's limit refuses one. It returns
// the record as the last step wrote it; after a step's error that record
// may be nil (or a stale read of what the step wrote).
func (s *pass) drive(ctx context.Context, r *Record) (*Record, error) {
	for range maxSteps {
		st := s.nextStep(r, s.cfg.Now())
		if s.ready != nil && (st.do == nil || st.name != s.ready.Name || (s.limit != nil && !s.limit(st.name))) {
			// The clock moved the decision on since the result wrote
			// the email's intent: clear it, read again, decide again.
			var err error
			if r, err = s.dropReady(ctx); err != nil {
				return r, err
			}
			continue
		}
		if st.do == nil || (s.limit != nil && !s.limit(st.name)) {
			break
		}
		next, err := st.do(s, ctx, r)
		if errors.Is(err, errStale) {
			if r, s.last, err = s.store.get(ctx, s.key); err != nil {
				return r, err
			}
			continue
		}
		if err != nil {
			s.failed = st.name
			return next, err
		}
		r = next
		s.taken = append(s.taken, st.name)
	}
	if s.ready != nil {
		return s.dropReady(ctx)
	}
	return r, nil
}

// dropReady clears the email intent the last result wrote (ready) and
// returns the record as stored.
func (s *pass) dropReady(ctx context.Context) (*Record, error) {
	ready := s.ready
	s.ready = nil
	s.withdraw(ctx, s.key, ready)
	r, snap, err := s.store.get(ctx, s.key)
	if err == nil {
		s.last = snap
	}
	return r, err
}

// settled reports, from one read, whether the record needs nothing: no step
// to take, no step or lease left by a crash, no outbox, its timer set. A
// redelivered event then costs a read and no write.
func (s *Service) settled(ctx context.Context, key string, from snapshot) (done, outboxOnly bool, read snapshot, err error) {
	var r *Record
	read = from
	if read.rev == 0 {
		r, read, err = s.store.get(ctx, key)
	} else if r, err = read.record(); err != nil {
		r, read, err = s.store.get(ctx, key)
	}
	if errors.Is(err, ErrNotFound) {
		return true, false, snapshot{}, nil
	}
	if err != nil {
		return false, false, snapshot{}, err
	}
	now := s.cfg.Now()
	if r.Step != nil || r.Lease != nil || s.nextStep(r, now).do != nil {
		return false, false, read, nil
	}
	wake := s.wake(r, now) // the adoption's wake-up included, as schedule has it
	timerSet := wake.IsZero() || events.CeilSecond(wake).Equal(r.TimerAt)
	return timerSet && len(r.Outbox) == 0, timerSet && len(r.Outbox) > 0, read, nil
}

// pass is one holding of a record's lease: the steps of a reconcile pass
// (or an operator's operation) run as its methods, and each of their writes
// checks that the record's lease is still this very acquisition (owner and
// token), not merely this process's.
type pass struct {
	*Service
	key   string
	token string
	// limit, if set, says which steps (by name) drive may take; it stops
	// before any other. Nil: every step.
	limit func(name string) bool
	// taken names the steps drive took, in order; failed, the one whose
	// error it returned.
	taken  []string
	failed string
	// last is the record as this pass last read or wrote it: its next
	// write starts from it and saves a read while nobody else wrote.
	last snapshot
	// released: the lease was given up by the pass's last write.
	released bool
	// finishErr is what publishing the audits failed with when the last
	// step's result also finished the pass (resultFinish).
	finishErr error
	// ready is the intent of the next step, written by the write before
	// it, for that step to take without a write of its own (takeIntent):
	// an email's by the last step's result (resultNext), a create's by the
	// fold that took the lease (readyCreate). An email step recovered
	// after a crash is sent again anyway, so its intent guards only the
	// lease at the moment of sending, which the result's write checked.
	// A pass that ends without taking it clears it (dropReady, release).
	ready *Step
}

// updateKey is update of record key, which is the pass's (the steps name
// it); another key is a plain Store.Update.
func (s *pass) updateKey(ctx context.Context, key string, fn func(r *Record) error) (*Record, error) {
	if key != s.key {
		r, _, err := s.store.Update(ctx, key, fn)
		return r, err
	}
	return s.update(ctx, fn)
}

// update is Store.Update of the pass's record, starting from what the pass
// last read or wrote.
func (s *pass) update(ctx context.Context, fn func(r *Record) error) (*Record, error) {
	r, snap, err := s.store.updateFrom(ctx, s.key, s.last, fn)
	if err == nil {
		s.last = snap
	}
	return r, err
}

// holds reports whether r's lease is this pass's.
func (s *pass) holds(r *Record) bool {
	return r.Lease != nil && r.Lease.Owner == s.cfg.Owner && r.Lease.Token == s.token
}

// acquire takes the record's lease as a new pass, recovering any step a
// crashed holder left. The caller holds the record's in-process lock
// (s.locks), so a live lease of this Service's own owner is not another
// handler's: it is an earlier pass whose release failed, and any step it
// left was cut short. A live lease of another owner is another process's:
// acquire returns a *LeasedError and touches nothing.
func (s *Service) acquire(ctx context.Context, key string) (*pass, *Record, error) {
	return s.acquireFrom(ctx, key, snapshot{})
}

// acquireFrom is acquire starting from the record as read (a snapshot).
func (s *Service) acquireFrom(ctx context.Context, key string, read snapshot) (*pass, *Record, error) {
	p := &pass{Service: s, key: key, token: newAttempt(), last: read}
	now := s.cfg.Now()
	var cut *Step
	r, err := p.update(ctx, func(r *Record) error {
		if l := r.Lease; l != nil && l.Owner != s.cfg.Owner && now.Before(l.Until) {
			return &LeasedError{Until: l.Until}
		}
		cut = p.takeLease(r, now)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.logReview(r, cut)
	return p, r, nil
}

// takeLease makes r's lease the pass's, recovering any step a crashed
// holder left (see acquire), which it returns (for logReview).
func (s *pass) takeLease(r *Record, now time.Time) (cut *Step) {
	r.Lease = &Lease{Owner: s.cfg.Owner, Token: s.token, Until: now.Add(s.cfg.LeaseFor)}
	if r.Step != nil {
		cut = r.Step
		s.recover(r)
	}
	return cut
}

// leaseIfDue takes r's lease, as acquire would, if r has a step to take (or
// one a crash left) and no other process holds it; the caller holds the
// record's in-process lock. It reports whether it took it, and the step a
// crash left, if any (for logReview).
func (s *pass) leaseIfDue(r *Record) (bool, *Step) {
	now := s.cfg.Now()
	if l := r.Lease; l != nil && l.Owner != s.cfg.Owner && now.Before(l.Until) {
		return false, nil
	}
	if r.Step == nil && r.Lease == nil && s.nextStep(r, now).do == nil {
		return false, nil
	}
	return true, s.takeLease(r, now)
}

// release gives the lease up; a failure only means others wait for it to lapse.
func (s *pass) release() {
	if s.released {
		return
	}
	ready := s.ready
	s.ready = nil
	if ready != nil && ready.Name == stepCreate {
		// A create's intent no step took (readyCreate): no call was made.
		// Left, it would be taken for a create cut short by a crash (a
		// review), so it is withdrawn as surely as a lost intent is, not
		// within the lease's best-effort 5 s: a failure here is often
		// JetStream away (an index write failed).
		s.withdraw(context.Background(), s.key, ready)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.update(ctx, func(r *Record) error {
		if !s.holds(r) {
			return errNoChange
		}
		r.Lease = nil
		if ready != nil && r.Step != nil && r.Step.Attempt == ready.Attempt {
			r.Step = nil // an intent no step took (ready): no call was made, nothing sent
		}
		return nil
	})
	if err != nil {
		s.log.Warn("lease not released; it will lapse", zap.String("account", s.key), zap.Error(err))
	}
}

// recover decides what a step cut short by a crash means. Only a create is
// dangerous to repeat: the account may exist. Every other step is re-derived
// from the record (a renew reads the provider's expiry first; an email is
// sent again, at most one duplicate, with the same Message-ID).
func (s *Service) recover(r *Record) {
	st := r.Step
	r.Step = nil
	if st.Name == stepCreate {
		s.uncertainCreate(r, st, "create was interrupted: the account may exist at the provider")
	}
}

// uncertainCreate handles a create that may or may not have made an
// account: where the provider can list what exists, the record waits to
// adopt it; otherwise an operator must decide.
func (s *Service) uncertainCreate(r *Record, st *Step, reason string) {
	if s.caps(r).List {
		r.Adopt = st
		return
	}
	r.Review = &Review{Reason: reason, Step: st.Name, Attempt: st.Attempt, Since: s.cfg.Now().UTC()}
	r.audit(events.Audit{
		ID:     fmt.Sprintf("%s:%s:%s", events.AuditReviewNeeded, r.Key, st.Attempt),
		Kind:   events.AuditReviewNeeded,
		Reason: reason,
	})
}

// logReview logs the review that st's interruption put r in, once r is
// stored: uncertainCreate runs inside a compare-and-swap write, which may
// run it on a copy that is then refused and read again (another handler
// wrote meanwhile), so it cannot log itself.
func (s *Service) logReview(r *Record, st *Step) {
	if r != nil && st != nil && r.Review != nil && r.Review.Attempt == st.Attempt {
		s.log.Error("account needs review", zap.String("account", r.Key), zap.String("step", st.Name), zap.String("reason", r.Review.Reason))
	}
}

func (s *Service) provider(r *Record) (Provider, error) {
	name := r.Desired.Plan.Provider
	if r.Actual.Exists && r.Actual.Provider != "" {
		name = r.Actual.Provider
	}
	p, ok := s.providers[providers.Name(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %q (plan %s)", ErrNoProvider, name, r.Desired.Plan.ID)
	}
	return p, nil
}

func (s *Service) caps(r *Record) providers.Capabilities {
	if p, err := s.provider(r); err == nil {
		return p.Capabilities()
	}
	return providers.Capabilities{}
}

// decide is the account core's decision for r at now: what the provider
// should hold, the next action toward it, and the next wake-up.
func (s *Service) decide(r *Record, now time.Time) account.Decision {
	return account.Decide(r.State(), s.caps(r), now, s.rules())
}

// rules is the part of the configuration the account core reads.
func (s *Service) rules() account.Policy {
	return account.Policy{Grace: *s.cfg.GracePeriod, AdoptAfter: s.cfg.AdoptAfter}
}

// step is one persisted move toward the desired state, taken by the pass
// that holds the record's lease. It returns the record as it last wrote it.
type step func(s *pass, ctx context.Context, r *Record) (*Record, error)

// namedStep is a step and its name (the one its intent and failpoints
// carry), so a pass can be limited to some steps (Refresh: never a create
// or a delete). The zero value is no step.
type namedStep struct {
	name string
	do   step
}

const (
	stepCreate  = "create"
	stepEnable  = "enable"
	stepDisable = "disable"
	stepDelete  = "delete"
	stepRenew   = "renew"
	stepRetire  = "retire"
	stepAdopt   = "adopt"
	stepDeleted = "deleted" // no call: the retention of an account already gone is over
	mailPrefix  = "email."
)

// nextStep is the step that carries out the account core's next action
// for r at now, or none when the provider matches the record.
func (s *Service) nextStep(r *Record, now time.Time) namedStep {
	d := s.decide(r, now)
	switch d.Action {
	case account.Adopt:
		return namedStep{stepAdopt, (*pass).adopt}
	case account.Create:
		return namedStep{stepCreate, (*pass).create}
	case account.PlanChanged:
		return local("plan", func(r *Record) {
			r.Actual.PlanID = r.Desired.Plan.ID
			r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%s", events.AuditPlanChanged, r.Key, r.Desired.Plan.ID), Kind: events.AuditPlanChanged})
		})
	case account.Enable:
		return setEnabled(true)
	case account.Disable:
		return setEnabled(false)
	case account.Renew:
		return namedStep{stepRenew, (*pass).renew}
	case account.Extend:
		return local("expiry", func(r *Record) {
			r.Actual.Expiry = r.Desired.PaidThrough
			r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditAccountRenewed, r.Key, r.Actual.Expiry.Unix()),
				Kind: events.AuditAccountRenewed, PeriodEnd: r.Actual.Expiry})
		})
	case account.Suspend:
		return remove(false)
	case account.Delete:
		return remove(true)
	case account.MarkDeleted:
		return local(stepDeleted, func(r *Record) {
			r.Actual.Deleted = true
			s.owe(r, PendingEmail{ID: fmt.Sprintf("%s.%d", notify.Deleted, r.Actual.Generation), Kind: notify.Deleted})
			r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditDeleted, r.Key, r.Actual.Generation), Kind: events.AuditDeleted})
		})
	case account.Retire:
		return namedStep{stepRetire, (*pass).retire}
	case account.Email:
		for _, m := range r.Mail {
			if m.ID == d.Email {
				return email(m)
			}
		}
	}
	return namedStep{}
}

func newAttempt() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// intent writes a Step for name if the record still wants it (want) and
// this worker still holds the lease.
func (s *pass) intent(ctx context.Context, key, name string, want func(r *Record) bool) (*Record, *Step, error) {
	st := &Step{Name: name, Attempt: newAttempt(), Owner: s.cfg.Owner, Started: s.cfg.Now().UTC()}
	r, err := s.updateKey(ctx, key, func(r *Record) error {
		if !s.holds(r) {
			return &LeasedError{Until: s.cfg.Now()}
		}
		if r.Step != nil || !want(r) {
			return errStale
		}
		r.Step = st
		r.Lease.Until = s.cfg.Now().Add(s.cfg.LeaseFor)
		return nil
	})
	var leased *LeasedError
	if err != nil && !errors.Is(err, errStale) && !errors.As(err, &leased) {
		// The write's answer was lost (a NATS leader election): it may
		// have been stored. No call was made, so the intent is withdrawn,
		// lest the next pass take it for a call cut short by a crash.
		s.withdraw(ctx, key, st)
	}
	if err != nil {
		return r, nil, err
	}
	s.cfg.Failpoint("intent." + name)
	return r, st, nil
}

// writeRetryFor bounds how long a pass retries a step's write whose answer
// was lost (a NATS leader election takes seconds): well within its lease
// (Config.LeaseFor, renewed by every write), so nobody else drives the
// record meanwhile.
const writeRetryFor = 60 * time.Second

// retryWrite runs write until it succeeds, fails for a reason of the
// record's (the step was taken over, the lease lost), or writeRetryFor
// has passed. Every write it retries is a compare-and-swap that recognises
// its own earlier success, so a retry never applies anything twice.
func (s *pass) retryWrite(ctx context.Context, write func() (*Record, error)) (*Record, error) {
	deadline := time.Now().Add(writeRetryFor)
	wait := 100 * time.Millisecond
	for {
		r, err := write()
		var leased *LeasedError
		// A step "taken over" may be a stale read: just after a NATS
		// restart a replica that has not caught up can answer a read (a
		// record without the step's intent). A true takeover needs the
		// lease lapsed, which writeRetryFor is well within: look again.
		if err == nil || errors.Is(err, errStale) || errors.As(err, &leased) ||
			ctx.Err() != nil || time.Now().After(deadline) {
			return r, err
		}
		s.log.Warn("step write not confirmed; retrying", zap.String("account", s.key), zap.Error(err))
		select {
		case <-ctx.Done():
			return r, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// withdraw clears st, an intent whose write may have been stored, unless
// it is gone already. "Gone" is proved by a write, never by a read alone:
// a bucket read is a direct get that any replica may answer, and one that
// has not caught up (just after a leader election or a restart) shows the
// record without the intent that was stored. Taking that for the truth
// leaves the intent for the next pass to take for a create cut short by a
// crash (review). So withdraw always writes the record back with
// compare-and-swap against the revision it read: the write succeeds only
// if that read was the record as stored, and then the intent is gone
// (cleared now, or never stored). A stale read fails the swap and is read
// again. The extra revision is paid only after a lost answer.
func (s *pass) withdraw(ctx context.Context, key string, st *Step) {
	s.withdrawOr(ctx, key, st, nil)
}

// withdrawOr is withdraw of the intent that the record's first write
// carried (Apply's fold of a new record), whose answer was lost: the
// record may not exist at all. A read that does not find it proves
// nothing (a replica behind), so absence is proved by a write too: the
// record as that write would have stored it, without the intent and the
// lease (instead), is created with compare-and-swap. It is stored only if
// no record is, and then the lost write can never be stored after it; if
// one is, the create fails and the record is read again.
func (s *pass) withdrawOr(ctx context.Context, key string, st *Step, instead *Record) {
	_, err := s.retryWrite(ctx, func() (*Record, error) {
		r, snap, err := s.store.get(ctx, key)
		if errors.Is(err, ErrNotFound) && instead != nil {
			clean := instead.clone()
			clean.Step, clean.Lease = nil, nil
			written, err := s.store.put(ctx, clean, 0)
			if err != nil {
				return nil, err // errConflict: it exists after all; read again
			}
			if key == s.key {
				s.last = written
			}
			return clean, nil
		}
		if errors.Is(err, ErrNotFound) {
			// The record held this pass's lease: it exists. A replica
			// without it has not caught up.
			return nil, fmt.Errorf("record %s not found on read: %w", key, errConflict)
		}
		if err != nil {
			return nil, err
		}
		if r.Step != nil && r.Step.Attempt == st.Attempt {
			r.Step = nil
		}
		written, err := s.store.put(ctx, r, snap.rev)
		if err != nil {
			return nil, err
		}
		if key == s.key {
			s.last = written
		}
		return r, nil
	})
	if err != nil {
		s.log.Warn("intent not withdrawn; the next pass recovers it", zap.String("account", key), zap.Error(err))
	}
}

// errTakenOver: the step's intent is not the record's step any more.
var errTakenOver = errors.New("was taken over")

// result writes the outcome of st with apply and clears the step.
// A result whose write's answer is lost (a NATS leader election) is
// written again until it is confirmed: the record keeps the attempt of the
// last result written (LastStep), so a retry finds its own earlier write
// and applies nothing twice. The call was made: its result must not be
// left for the next pass to take for a crash (a create in review, an
// email sent twice).
func (s *pass) result(ctx context.Context, key string, st *Step, apply func(r *Record)) (*Record, error) {
	return s.writeResult(ctx, key, st, apply, false)
}

// resultNext is result of a step that succeeded: if the record's next
// step is an email, its intent is written in the same write (ready), and
// that step sends without writing one of its own.
func (s *pass) resultNext(ctx context.Context, key string, st *Step, apply func(r *Record)) (*Record, error) {
	return s.writeResult(ctx, key, st, apply, key == s.key)
}

func (s *pass) writeResult(ctx context.Context, key string, st *Step, apply func(r *Record), next bool) (*Record, error) {
	var ready *Step
	r, err := s.retryWrite(ctx, func() (*Record, error) {
		return s.updateKey(ctx, key, func(r *Record) error {
			ready = nil
			if r.LastStep == st.Attempt {
				// Written already: its answer was lost. The email
				// intent it carried, if any, is still this pass's.
				if next && r.Step != nil && strings.HasPrefix(r.Step.Name, mailPrefix) && s.holds(r) {
					ready = r.Step
				}
				return errNoChange
			}
			if r.Step == nil || r.Step.Attempt != st.Attempt {
				return fmt.Errorf("step %s attempt %s %w", st.Name, st.Attempt, errTakenOver)
			}
			r.Step, r.LastStep = nil, st.Attempt
			if s.holds(r) {
				r.Lease.Until = s.cfg.Now().Add(s.cfg.LeaseFor)
			}
			apply(r)
			if next && s.holds(r) {
				ready = s.readyEmail(r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	s.ready = ready
	s.cfg.Failpoint("result." + st.Name)
	return r, nil
}

// readyEmail writes into r the intent of its next step if that is an
// email this pass may send, and returns it.
func (s *pass) readyEmail(r *Record) *Step {
	now := s.cfg.Now()
	next := s.nextStep(r, now)
	if next.do == nil || !strings.HasPrefix(next.name, mailPrefix) || (s.limit != nil && !s.limit(next.name)) {
		return nil
	}
	r.Step = &Step{Name: next.name, Attempt: newAttempt(), Owner: s.cfg.Owner, Started: now.UTC()}
	return r.Step
}

// readyCreate writes into r, whose lease the pass takes in the same write
// (Apply's fold), the intent of its next step if that is a create, and
// returns it (ready) for create to take without a write of its own
// (takeIntent). Apply asks for it only when nothing is written between
// that write and the call (a record without further seats), so the intent
// is stored no earlier, in effect, than its own write would be; a pass that
// ends without making the call clears it, as an email's (dropReady,
// release), and a write whose answer was lost withdraws it.
func (s *pass) readyCreate(r *Record) *Step {
	now := s.cfg.Now()
	if r.Step != nil || r.Review != nil || r.Adopt != nil || s.nextStep(r, now).name != stepCreate {
		return nil
	}
	r.Step = &Step{Name: stepCreate, Attempt: newAttempt(), Owner: s.cfg.Owner, Started: now.UTC()}
	return r.Step
}

// takeIntent is intent for step name, unless the last result wrote it
// already (ready) and r, the record as that result wrote it, carries it.
func (s *pass) takeIntent(ctx context.Context, r *Record, name string, want func(r *Record) bool) (*Record, *Step, error) {
	if st := s.ready; st != nil {
		s.ready = nil
		if st.Name == name && r.Step != nil && r.Step.Attempt == st.Attempt {
			s.cfg.Failpoint("intent." + name)
			return r, st, nil
		}
	}
	return s.intent(ctx, r.Key, name, want)
}

// local is a step with no provider call: one CAS write.
func local(name string, apply func(r *Record)) namedStep {
	return namedStep{name, func(s *pass, ctx context.Context, r *Record) (*Record, error) {
		r, err := s.updateKey(ctx, r.Key, func(r *Record) error {
			if !s.holds(r) || r.Step != nil {
				return errStale
			}
			apply(r)
			return nil
		})
		if err == nil {
			s.cfg.Failpoint("result." + name)
		}
		return r, err
	}}
}

// call runs one provider call as a step: intent, call, result. On failure
// the intent is cleared and the call's error returned.
func (s *pass) call(ctx context.Context, r *Record, name string, want func(*Record) bool,
	do func(ctx context.Context, p Provider, r *Record) (func(*Record), error)) (*Record, error) {
	p, err := s.provider(r)
	if err != nil {
		return r, err
	}
	return s.callAt(ctx, r, p, name, want, do)
}

// callAt is call at provider p.
func (s *pass) callAt(ctx context.Context, r *Record, p Provider, name string, want func(*Record) bool,
	do func(ctx context.Context, p Provider, r *Record) (func(*Record), error)) (*Record, error) {
	r, st, err := s.intent(ctx, r.Key, name, want)
	if err != nil {
		return r, err
	}
	called := s.locks.calling(s.key)
	apply, callErr := do(ctx, p, r)
	called()
	s.cfg.Failpoint("call." + name)
	if callErr != nil {
		if _, err := s.result(ctx, r.Key, st, func(*Record) {}); err != nil {
			return r, errors.Join(callErr, err)
		}
		return r, fmt.Errorf("%s %s: %w", name, r.Key, callErr)
	}
	return s.resultNext(ctx, r.Key, st, apply)
}

func (s *pass) create(ctx context.Context, r *Record) (*Record, error) {
	p, err := s.provider(&Record{Desired: r.Desired}) // a new account is at the plan's provider
	if err != nil {
		return r, err
	}
	plan := r.Desired.Plan
	replacing := r.Actual.Exists
	r, st, err := s.takeIntent(ctx, r, stepCreate, func(r *Record) bool {
		return s.decide(r, s.cfg.Now()).Target == account.TargetEnabled && r.Review == nil && r.Adopt == nil && r.Actual.Exists == replacing
	})
	if err != nil {
		return r, err
	}
	called := s.locks.calling(s.key)
	creds, err := p.Create(ctx, plan.Plan())
	called()
	s.cfg.Failpoint("call." + stepCreate)
	if err != nil {
		return s.createFailed(ctx, r.Key, st, err)
	}
	// The claim, which keeps another record's adoption from taking the
	// account, is written beside the result rather than before it: the
	// account is unclaimed no longer than before (from the create's answer
	// until the claim is stored), and the result does not wait for it. A
	// claim that fails is a warning, as it always was.
	claimed := make(chan error, 1)
	go func() { claimed <- s.store.claim(ctx, plan.Provider, creds.Username, r.Key) }()
	defer func() {
		if err := <-claimed; err != nil {
			s.log.Warn("account not claimed; adoption may consider it", zap.String("account", r.Key), zap.Error(err))
		}
	}()
	sealed, err := s.sealer.Seal(r.Key, creds.Password)
	if err != nil {
		return r, fmt.Errorf("seal credentials: %w", err)
	}
	now := s.cfg.Now().UTC()
	return s.resultNext(ctx, r.Key, st, func(r *Record) {
		old := r.Actual
		if old.Exists {
			r.Actual.Retired = append(r.Actual.Retired, RetiredAccount{Provider: old.Provider, Username: old.Username})
		}
		r.Actual = Actual{
			Provider: plan.Provider, Username: creds.Username, Login: creds.Login, Server: creds.Server,
			Password: sealed, Exists: true, Enabled: true, Expiry: creds.Expiry,
			Generation: old.Generation + 1, CreatedAt: now, PlanID: plan.ID,
			PackageType: plan.PackageType, PeriodDays: plan.PeriodDays, Retired: r.Actual.Retired,
			Suspensions: old.Suspensions, Resets: old.Resets,
		}
		if r.Actual.Expiry.IsZero() {
			r.Actual.Expiry = r.Desired.PaidThrough
		}
		kind := notify.Welcome
		switch {
		case old.ResetPending:
			kind = notify.CredentialsReset // a provider without password change: an operator replaced the account
		case old.Exists:
			r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditPlanChanged, r.Key, r.Actual.Generation), Kind: events.AuditPlanChanged})
		case old.Generation > 0:
			kind = notify.Resumed // a provider without suspend: a new account after a suspension or expiry
		}
		// Credentials of an older generation are void: do not send them.
		r.Mail = slices.DeleteFunc(r.Mail, func(m PendingEmail) bool { return m.Gen > 0 })
		r.Mail = append(r.Mail, PendingEmail{ID: fmt.Sprintf("%s.%d", kind, r.Actual.Generation), Kind: kind, Gen: r.Actual.Generation})
		r.audit(events.Audit{
			ID:          fmt.Sprintf("%s:%s:%d", events.AuditAccountCreated, r.Key, r.Actual.Generation),
			Kind:        events.AuditAccountCreated,
			PeriodStart: now,
			PeriodEnd:   r.Actual.Expiry,
		})
	})
}

// createFailed records a failed create. An uncertain one may have made the
// account, so it is never retried blindly: it goes to adoption or review.
func (s *pass) createFailed(ctx context.Context, key string, st *Step, callErr error) (*Record, error) {
	uncertain := errors.Is(callErr, providers.ErrUncertain)
	r, err := s.result(ctx, key, st, func(r *Record) {
		if uncertain {
			s.uncertainCreate(r, st, "create uncertain: "+callErr.Error())
		}
	})
	if err != nil {
		return r, errors.Join(callErr, err)
	}
	if uncertain {
		s.logReview(r, st)
		return r, nil
	}
	return r, fmt.Errorf("create at %s: %w", r.Desired.Plan.Provider, callErr)
}

// adopt settles an uncertain create at a provider that lists what exists:
// a tunnel made at the time of the lost create and claimed by no other
// record is the one it made. Its password was never received, so it is
// deleted, and the next step creates afresh: one account at the end.
func (s *pass) adopt(ctx context.Context, r *Record) (*Record, error) {
	p, err := s.provider(&Record{Desired: r.Desired})
	if err != nil {
		return r, err
	}
	attempt := r.Adopt
	all, err := p.List(ctx)
	if err != nil {
		return r, fmt.Errorf("adopt %s: %w", r.Key, err)
	}
	for _, t := range all {
		if !t.Created.IsZero() && t.Created.Before(attempt.Started.Add(-time.Minute)) {
			continue
		}
		owner, err := s.store.claimOwner(ctx, r.Desired.Plan.Provider, t.Username)
		if err != nil {
			return r, err
		}
		if owner != "" && owner != r.Key {
			continue
		}
		if owner == "" {
			if err := s.store.claim(ctx, r.Desired.Plan.Provider, t.Username, r.Key); err != nil {
				continue // claimed by another record just now
			}
		}
		if err := p.Delete(ctx, t.Username); err != nil {
			return r, fmt.Errorf("adopt %s: delete orphan %s: %w", r.Key, t.Username, err)
		}
		s.log.Info("orphan of an uncertain create deleted", zap.String("account", r.Key), zap.String("username", t.Username))
	}
	r, err = s.updateKey(ctx, r.Key, func(r *Record) error {
		if r.Adopt == nil || r.Adopt.Attempt != attempt.Attempt {
			return errStale
		}
		r.Adopt = nil
		return nil
	})
	if err == nil {
		s.cfg.Failpoint("result." + stepAdopt)
	}
	return r, err
}

// setEnabled enables or disables a PureVPN account, and owes the email.
func setEnabled(enabled bool) namedStep {
	name := stepDisable
	if enabled {
		name = stepEnable
	}
	return namedStep{name, func(s *pass, ctx context.Context, r *Record) (*Record, error) {
		return s.call(ctx, r, name, func(r *Record) bool { return r.Actual.Exists && r.Actual.Enabled != enabled },
			func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
				if err := p.SetEnabled(ctx, r.Actual.Username, enabled); err != nil {
					return nil, err
				}
				return func(r *Record) {
					r.Actual.Enabled = enabled
					s.owe(r, transitionEmail(r, enabled))
					kind := events.AuditSuspended
					if enabled {
						kind = events.AuditResumed
					}
					r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d:%s", kind, r.Key, r.Actual.Suspensions, r.Desired.Status), Kind: kind})
				}, nil
			})
	}}
}

// transitionEmail is the email of a disable or enable. Suspensions are
// counted so each is told once whatever order its facts came in; a
// cancellation is final, so there is one.
func transitionEmail(r *Record, enabled bool) PendingEmail {
	switch {
	case enabled:
		return PendingEmail{ID: fmt.Sprintf("%s.%d", notify.Resumed, r.Actual.Suspensions), Kind: notify.Resumed}
	case r.Desired.Status == StatusCanceled || r.Desired.Status == StatusRefunded:
		return PendingEmail{ID: string(notify.Canceled), Kind: notify.Canceled}
	}
	r.Actual.Suspensions++
	return PendingEmail{ID: fmt.Sprintf("%s.%d", notify.Suspended, r.Actual.Suspensions), Kind: notify.Suspended,
		InvoiceURL: r.Desired.PayURL}
}

// owe adds an email to the record's mail unless it was sent or is pending.
// The first record of a subscription tells the customer of its status; a
// further seat tells only of its own credentials (in emails owed with a
// generation) and of its removal.
func (s *Service) owe(r *Record, m PendingEmail) {
	if r.Desired.Seat > 1 && m.Gen == 0 {
		if !r.Desired.SeatRemoved || m.Kind != notify.Canceled {
			return
		}
		m = PendingEmail{ID: string(notify.SeatRemoved), Kind: notify.SeatRemoved}
	}
	if r.Desired.Email == "" || r.hasEmail(m.ID) || r.owes(m.ID) {
		return
	}
	r.Mail = append(r.Mail, m)
}

// remove deletes the account: for good (final), or as VPNKI's suspension.
func remove(final bool) namedStep {
	return namedStep{stepDelete, func(s *pass, ctx context.Context, r *Record) (*Record, error) {
		return s.call(ctx, r, stepDelete, func(r *Record) bool { return r.Actual.Exists },
			func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
				if err := p.Delete(ctx, r.Actual.Username); err != nil {
					return nil, err
				}
				return func(r *Record) {
					r.Actual.Exists, r.Actual.Enabled, r.Actual.Password = false, false, nil
					r.Mail = slices.DeleteFunc(r.Mail, func(m PendingEmail) bool { return m.Gen > 0 })
					if final {
						r.Actual.Deleted = true
						s.owe(r, PendingEmail{ID: fmt.Sprintf("%s.%d", notify.Deleted, r.Actual.Generation), Kind: notify.Deleted})
						r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditDeleted, r.Key, r.Actual.Generation), Kind: events.AuditDeleted})
						return
					}
					if r.Desired.Status == StatusActive { // a provider that keeps no expiry: the paid time ran out
						s.owe(r, PendingEmail{ID: fmt.Sprintf("%s.expired.%d", notify.Suspended, r.Actual.Generation), Kind: notify.Suspended})
					} else {
						s.owe(r, transitionEmail(r, false))
					}
					r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditSuspended, r.Key, r.Actual.Generation), Kind: events.AuditSuspended,
						Reason: "the provider has no suspend: the tunnel was deleted"})
				}, nil
			})
	}}
}

// renew reads the PureVPN expiry first and renews only what is short of
// the paid-through time: renew is not idempotent.
func (s *pass) renew(ctx context.Context, r *Record) (*Record, error) {
	return s.call(ctx, r, stepRenew, func(r *Record) bool { return r.Actual.Exists },
		func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
			remote, err := p.Lookup(ctx, r.Actual.Username)
			if err != nil {
				return nil, err
			}
			renewed := false
			if remote.Exists && account.Short(r.Desired.PaidThrough, remote.Expiry) {
				if err := p.Renew(ctx, r.Actual.Username, r.Desired.Plan.Plan()); err != nil {
					return nil, err
				}
				renewed = true
				if remote, err = p.Lookup(ctx, r.Actual.Username); err != nil {
					return nil, err
				}
			}
			return func(r *Record) {
				before := r.Actual.Expiry
				r.Actual.Expiry = remote.Expiry
				if !remote.Exists {
					r.Actual.Exists, r.Actual.Enabled = false, false // gone at the provider: made again
				}
				if renewed {
					r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%d", events.AuditAccountRenewed, r.Key, remote.Expiry.Unix()),
						Kind: events.AuditAccountRenewed, PeriodStart: before, PeriodEnd: remote.Expiry})
				}
			}, nil
		})
}

// retire deletes an account replaced by a plan change.
// retire deletes an account replaced by a plan change, at its own provider.
func (s *pass) retire(ctx context.Context, r *Record) (*Record, error) {
	old := r.Actual.Retired[0]
	if old.Provider == "" {
		old.Provider = r.Actual.Provider
	}
	p, ok := s.providers[providers.Name(old.Provider)]
	if !ok {
		return r, fmt.Errorf("%w: %q (retiring %s)", ErrNoProvider, old.Provider, old.Username)
	}
	same := func(a RetiredAccount) bool { return a.Username == old.Username }
	return s.callAt(ctx, r, p, stepRetire, func(r *Record) bool { return slices.ContainsFunc(r.Actual.Retired, same) },
		func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
			if err := p.Delete(ctx, old.Username); err != nil {
				return nil, err
			}
			return func(r *Record) {
				r.Actual.Retired = slices.DeleteFunc(r.Actual.Retired, same)
				r.audit(events.Audit{ID: fmt.Sprintf("%s:%s:%s", events.AuditDeleted, r.Key, old.Username), Kind: events.AuditDeleted,
					Provider: old.Provider, Username: old.Username, Reason: "replaced by a plan change"})
			}, nil
		})
}

// email sends a pending email.
func email(m PendingEmail) namedStep {
	return namedStep{mailPrefix + m.ID, func(s *pass, ctx context.Context, r *Record) (*Record, error) {
		r, st, err := s.takeIntent(ctx, r, mailPrefix+m.ID, func(r *Record) bool { return r.owes(m.ID) })
		if err != nil {
			return r, err
		}
		msg, err := s.render(r, m)
		if err != nil {
			// A template that cannot render this record will not later.
			return s.mailed(ctx, r, st, m, notify.Message{}, fmt.Errorf("%w: render: %w", notify.ErrPermanent, err))
		}
		sendErr := s.mailer.Send(ctx, msg)
		s.cfg.Failpoint(mailPrefix + string(m.Kind))
		return s.mailed(ctx, r, st, m, msg, sendErr)
	}}
}

func (s *Service) render(r *Record, m PendingEmail) (notify.Message, error) {
	caps := s.caps(r) // how the account's customers connect
	seat := max(r.Desired.Seat, 1)
	d := notify.Data{
		To: r.Desired.Email, CustomerName: r.Desired.CustomerName, PlanName: r.Desired.Plan.Name,
		Server: r.Actual.Server, App: caps.App, Protocols: caps.Protocols,
		NewCredentials: m.Gen > 0, PaidThrough: r.Desired.PaidThrough, DeleteAt: r.Desired.DeleteAt,
		AmountDue: m.AmountDue, InvoiceURL: m.InvoiceURL,
		// A seat's credentials owed before the quantity went below it
		// still name it among the seats.
		Seat: seat, Seats: max(r.Desired.SeatCount, seat),
		MessageID: fmt.Sprintf("<%s.%s@%s>", m.ID, r.Key, s.cfg.MailDomain),
		Locale:    r.Desired.Locale,
	}
	if !m.At.IsZero() {
		d.PaidThrough = m.At
	}
	d.Username = r.Actual.SignIn()
	if s.cfg.PortalLink != nil {
		root, _ := SeatOf(r.Key) // a seat's page is its subscription's
		d.PortalURL = s.cfg.PortalLink(root, s.cfg.Now())
	}
	if m.Gen > 0 && len(r.Actual.Password) > 0 {
		pw, err := s.sealer.Open(r.Key, r.Actual.Password)
		if err != nil {
			return notify.Message{}, err
		}
		d.Password = pw
	}
	return s.cfg.Templates.Render(m.Kind, d)
}

// mailed writes the outcome of sending m. A temporary failure leaves it
// pending; a permanent one records it as failed (and reports it).
func (s *pass) mailed(ctx context.Context, sent *Record, st *Step, m PendingEmail, msg notify.Message, sendErr error) (*Record, error) {
	key := sent.Key
	permanent := errors.Is(sendErr, notify.ErrPermanent)
	if sendErr != nil && !permanent {
		if _, err := s.result(ctx, key, st, func(*Record) {}); err != nil {
			return nil, errors.Join(sendErr, err)
		}
		return nil, fmt.Errorf("send %s email: %w", m.Kind, sendErr)
	}
	now := s.cfg.Now().UTC()
	apply := func(r *Record) {
		r.Mail = slices.DeleteFunc(r.Mail, func(p PendingEmail) bool { return p.ID == m.ID })
		if r.Emails == nil {
			r.Emails = map[string]SentEmail{}
		}
		sent := SentEmail{MessageID: msg.MessageID, Sent: now}
		a := events.Audit{ID: fmt.Sprintf("%s:%s:%s", events.AuditEmailSent, r.Key, m.ID), Kind: events.AuditEmailSent,
			MessageID: msg.MessageID, EmailKind: string(m.Kind)}
		if permanent {
			sent = SentEmail{MessageID: msg.MessageID, Failed: sendErr.Error()}
			a.Reason = "not delivered: " + sendErr.Error()
		} else if m.Gen > 0 && m.Gen == r.Actual.Generation {
			r.Actual.Password = nil // delivered: no reason to keep it
		}
		r.Emails[m.ID] = sent
		r.audit(a)
	}
	if sendErr == nil {
		if next := s.lastResult(sent, st, apply); next != nil {
			return s.resultFinish(ctx, st, apply, next)
		}
	}
	r, err := s.resultNext(ctx, key, st, apply)
	if err != nil {
		return r, err
	}
	if permanent {
		return r, fmt.Errorf("send %s email: %w", m.Kind, sendErr)
	}
	return r, nil
}

// lastResult is the pass's own record r (as written with st's intent) with
// st's result (apply) applied, if that leaves the pass nothing more to do;
// else nil. Then resultFinish writes that result and ends the pass in one
// write.
func (s *pass) lastResult(r *Record, st *Step, apply func(*Record)) *Record {
	if r == nil || r.Key != s.key || s.limit != nil || !s.holds(r) || r.Step == nil || r.Step.Attempt != st.Attempt {
		return nil
	}
	next := r.clone()
	next.Step, next.LastStep = nil, st.Attempt
	apply(next)
	if s.nextStep(next, s.cfg.Now()).do != nil {
		return nil
	}
	return next
}

// resultFinish writes the result of st, the pass's last step (next: the
// record with that result, from lastResult), together
// with what finish writes, saving a write: the audits (those the pass's
// steps wrote and this result's) are published and the next timer stored
// first, then one compare-and-swap writes the result, removes what was
// published, notes the timer and releases the lease. A crash between
// publishing and the write leaves the step's intent for the next pass,
// which takes it again (an email is sent again, once, with the same
// Message-ID) and publishes the same audits again (the same ids: stored
// once). run's finish then has nothing left to do.
func (s *pass) resultFinish(ctx context.Context, st *Step, apply func(*Record), next *Record) (*Record, error) {
	published, pubErr := events.PublishAudits(ctx, s.js, next.Outbox)
	wake, timer := s.nextTimer(next)
	if timer {
		if err := events.ScheduleTimer(ctx, s.js, s.key, wake); err != nil {
			// The result alone, as any step's; finish tries the rest.
			r, rerr := s.result(ctx, s.key, st, apply)
			return r, errors.Join(pubErr, rerr)
		}
	}
	var released bool
	r, err := s.retryWrite(ctx, func() (*Record, error) {
		return s.update(ctx, func(r *Record) error {
			released = false
			if r.LastStep == st.Attempt {
				return errNoChange // written already: its answer was lost
			}
			if r.Step == nil || r.Step.Attempt != st.Attempt {
				return fmt.Errorf("step %s attempt %s %w", st.Name, st.Attempt, errTakenOver)
			}
			r.Step, r.LastStep = nil, st.Attempt
			apply(r)
			r.Outbox = slices.DeleteFunc(r.Outbox, func(a events.Audit) bool { return slices.Contains(published, a.ID) })
			if timer && !r.TimerAt.Equal(wake) {
				r.TimerAt = wake
			}
			if s.holds(r) {
				r.Lease, released = nil, true
			}
			return nil
		})
	})
	if err != nil {
		return nil, errors.Join(pubErr, err)
	}
	s.released, s.finishErr = released, pubErr
	s.cfg.Failpoint("result." + st.Name)
	return r, nil
}

// flush publishes the record's audit outbox and removes what was published.
func (s *Service) flush(ctx context.Context, key string, r *Record) error {
	if r == nil || len(r.Outbox) == 0 {
		return nil
	}
	return s.publishOutbox(ctx, key, r.Outbox, snapshot{})
}

// flushFrom is flush of the record as read (a snapshot), written from it.
func (s *Service) flushFrom(ctx context.Context, key string, read snapshot) error {
	r, err := read.record()
	if err != nil {
		return err
	}
	return s.publishOutbox(ctx, key, r.Outbox, read)
}

// publishOutbox publishes outbox, then removes what was published from the
// record, writing from the snapshot from.
func (s *Service) publishOutbox(ctx context.Context, key string, outbox []events.Audit, from snapshot) error {
	done, pubErr := events.PublishAudits(ctx, s.js, outbox)
	errs := []error{pubErr}
	if len(done) > 0 {
		_, _, err := s.store.updateFrom(ctx, key, from, func(r *Record) error {
			n := len(r.Outbox)
			r.Outbox = slices.DeleteFunc(r.Outbox, func(a events.Audit) bool { return slices.Contains(done, a.ID) })
			if len(r.Outbox) == n {
				return errNoChange
			}
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
