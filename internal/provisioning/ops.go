package provisioning

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
)

// Operations for operators (cmd/vpnbillctl). Each runs under the record's
// lease, through the same intent/result writes as the reconcile loop.

// ReviewAction is what an operator decides for a record in review.
type ReviewAction string

// The review decisions.
const (
	// ReviewAdopt: the account exists at the provider under a username the
	// operator found; it is taken as this order's, given a new password
	// (its old one was never received), and the customer emailed.
	ReviewAdopt ReviewAction = "adopt"
	// ReviewRetry: the operator made sure no account exists; create again.
	ReviewRetry ReviewAction = "retry"
	// ReviewGiveUp: no service will be delivered; the order is flagged for
	// a refund (finance reads it from the audit trail and the record).
	ReviewGiveUp ReviewAction = "give-up"
)

// ErrNoReview means the record is not in review.
var ErrNoReview = errors.New("record is not in review")

// ResolveReview applies an operator's decision to a record in review, then
// reconciles it. username is required for ReviewAdopt.
func (s *Service) ResolveReview(ctx context.Context, key string, action ReviewAction, username string) error {
	r, _, err := s.store.Get(ctx, key)
	if err != nil {
		return err
	}
	if r.Review == nil {
		return fmt.Errorf("%s: %w", key, ErrNoReview)
	}
	audit := events.Audit{ID: fmt.Sprintf("%s:%s:%s", events.AuditReviewResolved, key, r.Review.Attempt),
		Kind: events.AuditReviewResolved, Reason: string(action)}
	switch action {
	case ReviewRetry, ReviewGiveUp:
		_, _, err = s.store.Update(ctx, key, func(r *Record) error {
			if r.Review == nil {
				return ErrNoReview
			}
			r.Review = nil
			if action == ReviewGiveUp {
				r.RefundDue = true
				r.Desired.Status, r.Desired.DeleteAt = StatusCanceled, s.cfg.Now().UTC()
			}
			r.audit(audit)
			return nil
		})
	case ReviewAdopt:
		err = s.adoptByOperator(ctx, key, username, audit)
	default:
		return fmt.Errorf("unknown review action %q: adopt, retry or give-up", action)
	}
	if err != nil {
		return err
	}
	return s.Reconcile(ctx, key)
}

func (s *Service) adoptByOperator(ctx context.Context, key, username string, audit events.Audit) error {
	if username == "" {
		return errors.New("adopt needs the username the account has at the provider")
	}
	r, _, err := s.store.Get(ctx, key)
	if err != nil {
		return err
	}
	p, err := s.provider(&Record{Desired: r.Desired})
	if err != nil {
		return err
	}
	if !p.Capabilities().ChangePassword {
		return errors.New("this provider cannot set a password on an adopted account: use retry")
	}
	remote, err := p.Lookup(ctx, username)
	if err != nil {
		return err
	}
	if !remote.Exists {
		return fmt.Errorf("%s does not exist at %s", username, r.Desired.Plan.Provider)
	}
	if err := s.store.claim(ctx, r.Desired.Plan.Provider, username, key); err != nil {
		return err
	}
	password, err := newPassword()
	if err != nil {
		return err
	}
	if err := p.ChangePassword(ctx, username, password); err != nil {
		return err
	}
	sealed, err := s.sealer.Seal(key, password)
	if err != nil {
		return err
	}
	now := s.cfg.Now().UTC()
	_, _, err = s.store.Update(ctx, key, func(r *Record) error {
		if r.Review == nil {
			return ErrNoReview
		}
		r.Review = nil
		plan := r.Desired.Plan
		r.Actual = Actual{Provider: plan.Provider, Username: username, Password: sealed, Exists: true, Enabled: remote.Enabled,
			Expiry: remote.Expiry, Generation: r.Actual.Generation + 1, CreatedAt: now,
			PlanID: plan.ID, PackageType: plan.PackageType, PeriodDays: plan.PeriodDays}
		r.Mail = append(r.Mail, PendingEmail{ID: fmt.Sprintf("%s.%d", notify.Welcome, r.Actual.Generation), Kind: notify.Welcome, Gen: r.Actual.Generation})
		audit.Username = username
		r.audit(audit)
		return nil
	})
	return err
}

// ResetCredentials gives the customer new credentials and emails them, as
// NewCredentials does, for an operator (resend), who never sees them.
func (s *Service) ResetCredentials(ctx context.Context, key string) error {
	_, err := s.NewCredentials(ctx, key)
	return err
}

// NewCredentials gives the account of record key new credentials, emails
// them (credentials_reset), and returns them, for the customer's own page,
// which shows them once: PureVPN changes the password in place; VPNKI,
// which cannot, replaces the tunnel (a new tunnel name and password). It
// runs under the record's lease, through the same intent/result writes as
// the reconcile loop, then takes the record's next steps (the email).
//
// The record keeps the new password sealed only until that email is sent,
// as it keeps any. Credentials with a password and an error: the
// credentials were changed, but what followed failed (the email, which the
// record's next pass sends); no password: nothing was changed, or VPNKI's
// old tunnel was deleted and the new one is still owed (the next pass
// makes it and emails it).
func (s *Service) NewCredentials(ctx context.Context, key string) (Credentials, error) {
	unlock, err := s.locks.lock(ctx, key)
	if err != nil {
		return Credentials{}, err
	}
	defer unlock()
	ps, r, err := s.acquire(ctx, key)
	if err != nil {
		return Credentials{}, err
	}
	defer ps.release()
	if !r.Actual.Exists {
		return Credentials{}, fmt.Errorf("%s has no account at the provider", key)
	}
	p, err := s.provider(r)
	if err != nil {
		return Credentials{}, err
	}
	var creds Credentials
	if p.Capabilities().ChangePassword {
		password, err := newPassword()
		if err != nil {
			return Credentials{}, err
		}
		sealed, err := s.sealer.Seal(key, password)
		if err != nil {
			return Credentials{}, err
		}
		r, err = ps.call(ctx, r, "password", func(r *Record) bool { return r.Actual.Exists },
			func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
				if err := p.ChangePassword(ctx, r.Actual.Username, password); err != nil {
					return nil, err
				}
				return func(r *Record) {
					r.Actual.Password = sealed
					r.Actual.Resets++
					r.Mail = append(r.Mail, PendingEmail{ID: fmt.Sprintf("%s.%d", notify.CredentialsReset, r.Actual.Resets),
						Kind: notify.CredentialsReset, Gen: r.Actual.Generation})
				}, nil
			})
		if err != nil {
			return Credentials{}, err
		}
		creds = credentialsOf(r.Actual, password)
	} else {
		// Delete the tunnel, then the reconcile loop makes a new one and
		// sends its credentials.
		if r, err = ps.call(ctx, r, stepDelete, func(r *Record) bool { return r.Actual.Exists },
			func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
				if err := p.Delete(ctx, r.Actual.Username); err != nil {
					return nil, err
				}
				return func(r *Record) {
					r.Actual.Exists, r.Actual.Enabled, r.Actual.Password = false, false, nil
					r.Actual.Resets++
					r.Actual.ResetPending = true
				}, nil
			}); err != nil {
			return Credentials{}, err
		}
		// The new tunnel's steps, up to its credentials_reset email: once
		// sent, the record lets its sealed password go, so it is read here
		// first.
		resetMail := mailPrefix + string(notify.CredentialsReset) + "."
		ps.limit = func(name string) bool { return !strings.HasPrefix(name, resetMail) }
		r, err = ps.drive(ctx, r)
		ps.limit = nil
		if err != nil {
			return Credentials{}, errors.Join(err, s.flush(ctx, key, r))
		}
		if r != nil && r.Actual.Exists && len(r.Actual.Password) > 0 {
			password, err := s.sealer.Open(key, r.Actual.Password)
			if err != nil {
				return Credentials{}, errors.Join(err, s.flush(ctx, key, r))
			}
			creds = credentialsOf(r.Actual, password)
		}
	}
	// Then the record's own next steps (a new tunnel, the email), as
	// Reconcile takes them.
	if r, err = ps.drive(ctx, r); err != nil {
		return creds, errors.Join(err, s.flush(ctx, key, r))
	}
	return creds, s.flush(ctx, key, r)
}

// credentialsOf are the credentials of account a with password.
func credentialsOf(a Actual, password string) Credentials {
	return Credentials{Username: a.Username, Login: a.Login, Password: password, Server: a.Server, Expiry: a.Expiry}
}

// SignIn is the name the customer signs in with: Login where the provider
// gives one, else Username.
func (c Credentials) SignIn() string {
	if c.Login != "" {
		return c.Login
	}
	return c.Username
}

// SignIn is the name the customer signs in to account a with, as
// Credentials.SignIn.
func (a Actual) SignIn() string { return Credentials{Username: a.Username, Login: a.Login}.SignIn() }

// newPassword returns 8 random letters and digits, what PureVPN accepts.
func newPassword() (string, error) {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 8)
	for i := range b {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[n.Int64()]
	}
	return string(b), nil
}

// Records returns every account record (for reports and operators).
func (s *Store) Records(ctx context.Context) ([]*Record, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Record, 0, len(keys))
	for _, k := range keys {
		r, _, err := s.Get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
