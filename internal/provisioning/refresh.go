package provisioning

import (
	"context"
	"errors"
	"fmt"
)

// Refresh is an operator's correction of one record whose account drifted
// at the provider (vpnbillctl reconcile --fix). It goes through the step
// machine as the worker does, never around it:
//
//   - it takes the record's in-process lock and its lease, as Reconcile
//     does; while another process (a worker) holds the lease it returns a
//     *LeasedError at once and calls nothing, so it can never renew beside
//     a worker's renew (the caller may try again once the lease is gone);
//   - it reads the account at the provider as a step ("status": intent,
//     Lookup, result) and writes what the provider said into the record's
//     Actual, where the provider can differ from it: Enabled where the
//     provider can suspend, Expiry where it can renew. An account the
//     provider does not have is not written (the record's rules would make
//     a new one): Refresh returns ErrAccountMissing;
//   - then the record's own rules decide the correction, through the loop
//     Reconcile runs: disable, enable, renew (which reads the expiry again
//     and renews only what is short), and whatever else is due that makes
//     and deletes nothing: record-only steps (plan, expiry) and the emails
//     the record owes, those the correction owes included;
//   - the loop stops before any step that creates or deletes an account
//     (create, delete, retire, adopt) or records a deletion (deleted): those
//     stay the worker's, at the record's next event or timer. Refresh then
//     returns ErrLeftToWorker, and Refreshed.Left names the step;
//   - like Reconcile it publishes the audit outbox (account.suspended,
//     account.resumed, account.renewed, email.sent …) and schedules the
//     record's timer, then releases the lease.
//
// It returns nil when the account was read and no step the record wants is
// left undone. A record in review (ErrInReview) or without an account at
// the provider (ErrNoAccount) is not touched. Refreshed says what was read
// and done, whatever the error.
func (s *Service) Refresh(ctx context.Context, key string) (Refreshed, error) {
	var out Refreshed
	// acquire would make an empty record under an unknown key.
	if _, _, err := s.store.Get(ctx, key); err != nil {
		return out, err
	}
	unlock, err := s.locks.lock(ctx, key)
	if err != nil {
		return out, err
	}
	defer unlock()
	p, r, err := s.acquire(ctx, key)
	if err != nil {
		return out, err
	}
	defer p.release()
	switch {
	case r.Review != nil:
		return out, fmt.Errorf("%s: %w", key, ErrInReview)
	case !r.Actual.Exists || r.Actual.Username == "":
		return out, fmt.Errorf("%s: %w", key, ErrNoAccount)
	}
	p.limit = refreshMay
	r, out.Found, err = p.status(ctx, r)
	if err != nil {
		out.Failed = stepStatus
		return out, errors.Join(err, s.flush(ctx, key, r))
	}
	_, stepErr := p.drive(ctx, r)
	out.Steps, out.Failed = append([]string{stepStatus}, p.taken...), p.failed
	// The record as the steps left it, whatever the last step returned.
	cur, _, err := s.store.Get(ctx, key)
	if err != nil {
		return out, errors.Join(stepErr, err)
	}
	out.Read, out.Account = true, s.account(cur, out.Found)
	err = stepErr
	if err == nil {
		switch st := s.nextStep(cur, s.cfg.Now()); {
		case st.do == nil: // nothing left: the provider matches the record
		case refreshMay(st.name):
			err = fmt.Errorf("%s: step %s still due after %d steps", key, st.name, maxSteps)
		default:
			out.Left = st.name
			err = fmt.Errorf("%s: %w: %s", key, ErrLeftToWorker, st.name)
		}
	}
	// What the steps wrote (their audit included) is published, also
	// before a failure is reported.
	if ferr := s.flush(ctx, key, cur); stepErr != nil || ferr != nil {
		return out, errors.Join(err, ferr)
	}
	return out, errors.Join(err, s.schedule(ctx, key, cur))
}

// Refreshed is what a Refresh read and did.
type Refreshed struct {
	// Read: the provider answered the status read and the record now holds
	// what it said (false when it has no such account).
	Read bool
	// Found: the account as the provider reported it before any step.
	Found Remote
	// Account: the account after the steps, as the provider holds it where
	// it reports it (enabled where it can suspend, expiry where it can
	// renew) and as the record says otherwise. Set when Read.
	Account Remote
	// Steps: the steps taken, in order, by name: the read ("status"), then
	// "enable", "disable", "renew", "email.<id>", or a record-only "plan"
	// or "expiry". Set when Read.
	Steps []string
	// Failed: the step whose error Refresh returns ("status" for the read).
	Failed string
	// Left: the record's next step, not taken: one that creates or deletes,
	// left to the worker ("create", "delete", "retire", "adopt", "deleted").
	Left string
}

// Errors of Refresh.
var (
	// ErrNoAccount: the record has no account at the provider to read.
	ErrNoAccount = errors.New("the record has no account at the provider")
	// ErrAccountMissing: the record has an account that the provider does
	// not have. The record is left as it is.
	ErrAccountMissing = errors.New("the provider has no such account")
	// ErrInReview: the record waits for an operator's review decision.
	ErrInReview = errors.New("record is in review")
	// ErrLeftToWorker: the record's next step creates or deletes an
	// account, which Refresh leaves to the worker.
	ErrLeftToWorker = errors.New("the record's next step is the worker's (it creates or deletes)")
)

// stepStatus is the step that reads the account at the provider.
const stepStatus = "status"

// refreshMay reports whether Refresh may take the step named name: every
// step but those that create or delete an account or record a deletion.
func refreshMay(name string) bool {
	switch name {
	case stepCreate, stepDelete, stepRetire, stepAdopt, stepDeleted:
		return false
	}
	return true
}

// status reads the record's account at the provider as a step (intent,
// Lookup, result) and writes what the provider said where it may differ
// from the record: Enabled where the provider can suspend, Expiry where it
// can renew. An account the provider does not have is an error
// (ErrAccountMissing), and the record is left as it is.
func (s *pass) status(ctx context.Context, r *Record) (*Record, Remote, error) {
	username := r.Actual.Username
	var found Remote
	r, err := s.call(ctx, r, stepStatus, func(r *Record) bool { return r.Actual.Exists && r.Actual.Username == username },
		func(ctx context.Context, p Provider, r *Record) (func(*Record), error) {
			remote, err := p.Lookup(ctx, username)
			if err != nil {
				return nil, err
			}
			found = remote
			if !remote.Exists {
				return nil, fmt.Errorf("%s: %w", username, ErrAccountMissing)
			}
			caps := p.Capabilities()
			return func(r *Record) {
				if caps.Suspend {
					r.Actual.Enabled = remote.Enabled
				}
				if caps.Renew {
					r.Actual.Expiry = remote.Expiry
				}
			}, nil
		})
	return r, found, err
}

// account is the account of r as Refreshed reports it: what the provider
// said (found), with what r's steps made true where the provider reports it.
func (s *Service) account(r *Record, found Remote) Remote {
	a := found
	a.Exists = r.Actual.Exists && r.Actual.Username == found.Username
	caps := s.caps(r)
	if caps.Suspend {
		a.Enabled = r.Actual.Enabled
	}
	if caps.Renew {
		a.Expiry = r.Actual.Expiry
	}
	return a
}
