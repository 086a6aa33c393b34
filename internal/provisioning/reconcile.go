package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// errStale means the record changed between deciding a step and writing its
// intent; the loop decides again.
var errStale = errors.New("record changed; deciding again")

// maxSteps bounds one reconcile pass; a record needs a handful at most.
const maxSteps = 20

// Reconcile drives the provider toward the record's desired state under a
// lease, one persisted step at a time, then publishes the record's audit
// outbox. It returns a *LeasedError if another worker holds the record.
func (s *Service) Reconcile(ctx context.Context, key string) error {
	r, err := s.acquire(ctx, key)
	if err != nil {
		return err
	}
	defer s.release(key)
	for range maxSteps {
		st := s.next(r)
		if st == nil {
			break
		}
		r, err = st(ctx, r)
		if errors.Is(err, errStale) {
			if r, _, err = s.store.Get(ctx, key); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			// What the step wrote (its audit included) is published
			// before the failure is reported.
			return errors.Join(err, s.flush(ctx, key, r))
		}
	}
	return s.flush(ctx, key, r)
}

// acquire takes the record's lease, recovering any step a crashed owner left.
func (s *Service) acquire(ctx context.Context, key string) (*Record, error) {
	now := s.cfg.Now()
	r, _, err := s.store.Update(ctx, key, func(r *Record) error {
		if l := r.Lease; l != nil && l.Owner != s.cfg.Owner && now.Before(l.Until) {
			return &LeasedError{Until: l.Until}
		}
		r.Lease = &Lease{Owner: s.cfg.Owner, Until: now.Add(s.cfg.LeaseFor)}
		if r.Step != nil {
			s.recover(r)
		}
		return nil
	})
	return r, err
}

// release gives the lease up; a failure only means others wait for it to lapse.
func (s *Service) release(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := s.store.Update(ctx, key, func(r *Record) error {
		if r.Lease == nil || r.Lease.Owner != s.cfg.Owner {
			return errNoChange
		}
		r.Lease = nil
		return nil
	})
	if err != nil {
		s.log.Warn("lease not released; it will lapse", zap.String("account", key), zap.Error(err))
	}
}

// recover decides what a step cut short by a crash means. Only a create is
// dangerous to repeat: the account may exist.
func (s *Service) recover(r *Record) {
	st := r.Step
	r.Step = nil
	if st.Name != stepCreate {
		return // an email is sent again (at most one duplicate); the rest are re-derived
	}
	s.needsReview(r, st, "create was interrupted: the account may exist at the provider")
}

func (s *Service) needsReview(r *Record, st *Step, reason string) {
	r.Review = &Review{Reason: reason, Step: st.Name, Attempt: st.Attempt, Since: s.cfg.Now().UTC()}
	r.audit(events.Audit{
		ID:     fmt.Sprintf("%s:%s:%s", events.AuditReviewNeeded, r.Key, st.Attempt),
		Kind:   events.AuditReviewNeeded,
		Reason: reason,
	})
	s.log.Error("account needs review", zap.String("account", r.Key), zap.String("step", st.Name), zap.String("reason", reason))
}

// step is one persisted move toward the desired state. It returns the
// record as it last wrote it.
type step func(ctx context.Context, r *Record) (*Record, error)

const (
	stepCreate = "create"
	mailPrefix = "email."
)

// next decides the record's next step, or nil when actual matches desired.
func (s *Service) next(r *Record) step {
	if r.Review != nil {
		return nil
	}
	d, a := &r.Desired, &r.Actual
	if d.Status == StatusActive && !a.Exists {
		return s.create
	}
	if a.Exists && a.Generation > 0 && d.Email != "" {
		if id := emailID(notify.Welcome, a.Generation); !r.hasEmail(id) {
			return s.email(notify.Welcome, a.Generation)
		}
	}
	return nil
}

func emailID(kind notify.Kind, gen int) string { return fmt.Sprintf("%s.%d", kind, gen) }

func (r *Record) hasEmail(id string) bool { _, ok := r.Emails[id]; return ok }

func newAttempt() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// intent writes a Step for name if the record still wants it (want) and
// this worker still holds the lease.
func (s *Service) intent(ctx context.Context, key, name string, want func(r *Record) bool) (*Record, *Step, error) {
	st := &Step{Name: name, Attempt: newAttempt(), Owner: s.cfg.Owner, Started: s.cfg.Now().UTC()}
	r, _, err := s.store.Update(ctx, key, func(r *Record) error {
		if r.Lease == nil || r.Lease.Owner != s.cfg.Owner {
			return &LeasedError{Until: s.cfg.Now()}
		}
		if r.Step != nil || !want(r) {
			return errStale
		}
		r.Step = st
		r.Lease.Until = s.cfg.Now().Add(s.cfg.LeaseFor)
		return nil
	})
	if err != nil {
		return r, nil, err
	}
	s.cfg.Failpoint("intent." + name)
	return r, st, nil
}

// result writes the outcome of st with apply and clears the step.
func (s *Service) result(ctx context.Context, key string, st *Step, apply func(r *Record)) (*Record, error) {
	r, _, err := s.store.Update(ctx, key, func(r *Record) error {
		if r.Step == nil || r.Step.Attempt != st.Attempt {
			return fmt.Errorf("step %s attempt %s was taken over", st.Name, st.Attempt)
		}
		r.Step = nil
		if r.Lease != nil && r.Lease.Owner == s.cfg.Owner {
			r.Lease.Until = s.cfg.Now().Add(s.cfg.LeaseFor)
		}
		apply(r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.cfg.Failpoint("result." + st.Name)
	return r, nil
}

func (s *Service) create(ctx context.Context, r *Record) (*Record, error) {
	plan := r.Desired.Plan
	prov, ok := s.providers[providers.Name(plan.Provider)]
	if !ok {
		return r, fmt.Errorf("%w: %q (plan %s)", ErrNoProvider, plan.Provider, plan.ID)
	}
	r, st, err := s.intent(ctx, r.Key, stepCreate, func(r *Record) bool {
		return r.Desired.Status == StatusActive && !r.Actual.Exists && r.Review == nil
	})
	if err != nil {
		return r, err
	}
	creds, err := prov.Create(ctx, plan)
	s.cfg.Failpoint("call." + stepCreate)
	if err != nil {
		return s.createFailed(ctx, r.Key, st, err)
	}
	var sealed []byte
	if sealed, err = s.sealer.Seal(r.Key, creds.Password); err != nil {
		return r, fmt.Errorf("seal credentials: %w", err)
	}
	now := s.cfg.Now().UTC()
	return s.result(ctx, r.Key, st, func(r *Record) {
		r.Actual = Actual{
			Provider: plan.Provider, Username: creds.Username, Login: creds.Login, Server: creds.Server,
			Password: sealed, Exists: true, Enabled: true, Expiry: creds.Expiry,
			Generation: r.Actual.Generation + 1, CreatedAt: now,
		}
		r.audit(events.Audit{
			ID:          fmt.Sprintf("%s:%s:%d", events.AuditAccountCreated, r.Key, r.Actual.Generation),
			Kind:        events.AuditAccountCreated,
			PeriodStart: now,
			PeriodEnd:   creds.Expiry,
		})
	})
}

// createFailed records a failed create. An uncertain one may have made the
// account, so it is never retried blindly: it goes to review.
func (s *Service) createFailed(ctx context.Context, key string, st *Step, callErr error) (*Record, error) {
	uncertain := errors.Is(callErr, providers.ErrUncertain)
	r, err := s.result(ctx, key, st, func(r *Record) {
		if uncertain {
			s.needsReview(r, st, "create uncertain: "+callErr.Error())
		}
	})
	if err != nil {
		return r, errors.Join(callErr, err)
	}
	if uncertain {
		return r, nil
	}
	return r, fmt.Errorf("create at %s: %w", r.Desired.Plan.Provider, callErr)
}

// email sends the email of kind for account generation gen.
func (s *Service) email(kind notify.Kind, gen int) step {
	return func(ctx context.Context, r *Record) (*Record, error) {
		id := emailID(kind, gen)
		r, st, err := s.intent(ctx, r.Key, mailPrefix+id, func(r *Record) bool {
			return !r.hasEmail(id) && r.Actual.Generation == gen
		})
		if err != nil {
			return r, err
		}
		data := notify.Data{
			To: r.Desired.Email, CustomerName: r.Desired.CustomerName, PlanName: r.Desired.Plan.Name,
			Provider: r.Actual.Provider, Username: r.Actual.Username, Server: r.Actual.Server,
			PaidThrough: r.Desired.PaidThrough, MessageID: fmt.Sprintf("<%s.%s@%s>", id, r.Key, s.cfg.MailDomain),
		}
		if r.Actual.Login != "" {
			data.Username = r.Actual.Login
		}
		if len(r.Actual.Password) > 0 {
			if data.Password, err = s.sealer.Open(r.Key, r.Actual.Password); err != nil {
				return r, err
			}
		}
		msg, err := notify.Render(kind, data)
		if err != nil {
			return r, fmt.Errorf("render %s email: %w", kind, err)
		}
		sendErr := s.mailer.Send(ctx, msg)
		s.cfg.Failpoint(mailPrefix + string(kind))
		permanent := errors.Is(sendErr, notify.ErrPermanent)
		if sendErr != nil && !permanent {
			// Not sent (or not confirmed): clear the intent and try again later.
			if _, err := s.result(ctx, r.Key, st, func(*Record) {}); err != nil {
				return r, errors.Join(sendErr, err)
			}
			return r, fmt.Errorf("send %s email: %w", kind, sendErr)
		}
		now := s.cfg.Now().UTC()
		r, err = s.result(ctx, r.Key, st, func(r *Record) {
			if r.Emails == nil {
				r.Emails = map[string]SentEmail{}
			}
			sent := SentEmail{MessageID: msg.MessageID}
			if permanent {
				sent.Failed = sendErr.Error()
			} else {
				sent.Sent = now
				r.Actual.Password = nil // delivered: no reason to keep it
			}
			r.Emails[id] = sent
			a := events.Audit{
				ID:        fmt.Sprintf("%s:%s:%s", events.AuditEmailSent, r.Key, id),
				Kind:      events.AuditEmailSent,
				MessageID: msg.MessageID,
				EmailKind: string(kind),
			}
			if permanent {
				a.Reason = "not delivered: " + sendErr.Error()
			}
			r.audit(a)
		})
		if err != nil {
			return r, err
		}
		if permanent {
			return r, fmt.Errorf("send %s email: %w", kind, sendErr)
		}
		return r, nil
	}
}

// flush publishes the record's audit outbox and removes what was published.
func (s *Service) flush(ctx context.Context, key string, r *Record) error {
	if r == nil || len(r.Outbox) == 0 {
		return nil
	}
	var done []string
	var errs []error
	for _, a := range r.Outbox {
		if err := events.PublishAudit(ctx, s.js, a); err != nil {
			errs = append(errs, err)
			break
		}
		done = append(done, a.ID)
	}
	if len(done) > 0 {
		_, _, err := s.store.Update(ctx, key, func(r *Record) error {
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
