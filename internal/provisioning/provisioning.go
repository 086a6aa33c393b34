// Package provisioning owns the account record and what makes the provider
// match it: folding Stripe facts into the record's desired state, and the
// reconcile loop that moves the actual state toward it one persisted step at
// a time — write the intent (CAS), make the call, write the result (CAS) —
// so that duplicates, reordering, redelivery after a crash and timers all
// take the same path.
//
// It talks to providers only through the Provider interface below and to
// SMTP only through Mailer.
package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
)

// Credentials of a new account or tunnel.
type Credentials struct {
	Username string    // the account's username or tunnel name
	Login    string    // the login, if it differs from Username
	Password string    //
	Server   string    // the address to connect to, where the provider gives one
	Expiry   time.Time // zero where the provider keeps none
}

// Remote is an account as the provider reports it.
type Remote struct {
	Username string
	Exists   bool
	Enabled  bool
	Expiry   time.Time // zero where the provider keeps none
	Created  time.Time // zero where the provider does not say
}

// Provider is what the reconciler needs of a VPN provider. Methods the
// provider lacks (Capabilities) are never called: the reconciler has an
// explicit rule for each. Every failure is a *providers.Error whose class
// says what may be done next. Every method honours ctx.
type Provider interface {
	Capabilities() providers.Capabilities
	// Create makes a new account for plan. Not idempotent: after an
	// Uncertain error the account may exist, and Create must not be called
	// again for the same order without proof that it does not.
	Create(ctx context.Context, plan billing.Plan) (Credentials, error)
	// Lookup reads one account; a missing one is Exists=false, no error. Idempotent.
	Lookup(ctx context.Context, username string) (Remote, error)
	// Delete removes the account; a missing one is success. Idempotent.
	Delete(ctx context.Context, username string) error
	// List returns every account (Capabilities.List). Idempotent.
	List(ctx context.Context) ([]Remote, error)
	// SetEnabled enables or disables the account (Capabilities.Suspend). Idempotent.
	SetEnabled(ctx context.Context, username string, enabled bool) error
	// Renew extends the account by the plan's period (Capabilities.Renew).
	// Not idempotent: read Lookup first and renew only what is short.
	Renew(ctx context.Context, username string, plan billing.Plan) error
	// ChangePassword sets a new password (Capabilities.ChangePassword).
	ChangePassword(ctx context.Context, username, password string) error
}

// Mailer sends one email. Errors wrapping notify.ErrPermanent mean the
// message can never be delivered; any other error may succeed later.
type Mailer interface {
	Send(ctx context.Context, m notify.Message) error
}

// Config configures a Service.
type Config struct {
	// Owner names this Service in leases; default hostname-pid-random.
	// It must be unique per Service: a lease of another owner is another
	// process's, while this Service's own handlers of one record are
	// serialized in memory and tell their passes apart by a token.
	Owner string
	// LeaseFor is how long a worker may drive a record without writing. Default 2m.
	LeaseFor time.Duration
	// LockWait is how long Reconcile waits for another handler of this
	// process driving the same record before it gives up with ErrBusy, so
	// that the waiting handler is not held for a whole provider call. A
	// handler that finds the other one in a provider call gives up at
	// once. Default 10ms.
	LockWait time.Duration
	// MailDomain is the right-hand side of Message-IDs. Default "vpnbill".
	MailDomain string
	// Failpoint, if set, is called at every step boundary with its name
	// ("intent.create", "call.create", "result.create", "email.welcome",
	// "result.email.welcome", …). Crash tests end the process there.
	Failpoint func(name string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// GracePeriod is the unpaid time before suspension, and how long a
	// VPNKI tunnel or one-off order outlives its paid-through time. Zero is
	// a valid choice: suspend as soon as Stripe says past_due. Default (nil)
	// 72h.
	GracePeriod *time.Duration
	// DeleteAfter is how long a canceled or refunded account is kept,
	// disabled, before it is deleted. Zero deletes at once. Default (nil)
	// 720h (30 days).
	DeleteAfter *time.Duration
	// Livemode, if set, is the Stripe mode served (true live, false
	// test): Apply skips a fact of the other mode (audited, never
	// provisioned). The worker checks the mode before it translates an
	// event; this is the service's own guard behind it. Nil: facts of
	// either mode are applied.
	Livemode *bool
	// AdoptAfter is how long after an uncertain VPNKI create the tunnel list
	// is read to adopt what it made. Default 30s.
	AdoptAfter time.Duration
	// Templates render the emails (a reseller's templates and brand,
	// notify.LoadTemplates). Default nil: the embedded ones, unbranded.
	Templates *notify.Templates
	// PortalLink, if set, is the link to the customer's own page of the
	// subscription or order whose first record's key is rootKey (a seat's
	// record links to its first: the page shows every seat), valid from
	// now (portal.Links.Link): every email carries it as
	// notify.Data.PortalURL. Default nil: no link.
	PortalLink func(rootKey string, now time.Time) string
}

// WithDefaults returns a copy of c with every unset field set to its
// default: a zero value, or nil for the durations where zero is a valid
// choice.
func (c Config) WithDefaults() Config {
	if c.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.LeaseFor <= 0 {
		c.LeaseFor = 2 * time.Minute
	}
	if c.LockWait <= 0 {
		c.LockWait = 10 * time.Millisecond
	}
	if c.MailDomain == "" {
		c.MailDomain = "vpnbill"
	}
	if c.Failpoint == nil {
		c.Failpoint = func(string) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.GracePeriod == nil {
		c.GracePeriod = new(72 * time.Hour)
	}
	if c.DeleteAfter == nil {
		c.DeleteAfter = new(720 * time.Hour)
	}
	if c.AdoptAfter <= 0 {
		c.AdoptAfter = 30 * time.Second
	}
	return c
}

// Service folds facts into records and reconciles them.
type Service struct {
	cfg       Config
	store     *Store
	js        jetstream.JetStream
	providers map[providers.Name]Provider
	mailer    Mailer
	sealer    *Sealer
	log       *zap.Logger
	// locks serializes this process's handlers of one record, before the
	// KV lease orders them with other processes.
	locks keyLocks
}

// New returns a Service. providers maps each configured provider's name to
// its client; a plan of a provider not in the map is a permanent error.
func New(cfg Config, store *Store, js jetstream.JetStream, provs map[providers.Name]Provider, mailer Mailer, sealer *Sealer, log *zap.Logger) *Service {
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{cfg: cfg.WithDefaults(), store: store, js: js, providers: provs, mailer: mailer, sealer: sealer, log: log}
}

// Errors the worker maps to a message's fate.
var (
	// ErrLeased: another worker drives the record now; retry after the *LeasedError's delay.
	ErrLeased = errors.New("record leased by another worker")
	// ErrNoProvider: a plan names a provider that is not configured.
	ErrNoProvider = errors.New("provider not configured")
	// ErrBusy: another handler of this process drives the record now
	// (Apply: at all; Reconcile: in a provider call, or not finished
	// within Config.LockWait). The error is a *BusyError, whose Wake is
	// closed when that handler lets go: try again then, without holding a
	// worker slot meanwhile. Nothing of the fact is written yet.
	ErrBusy = errors.New("record busy in this process")
)

// LeasedError says when the other worker's lease lapses.
type LeasedError struct{ Until time.Time }

func (e *LeasedError) Error() string {
	return fmt.Sprintf("%v until %s", ErrLeased, e.Until.Format(time.RFC3339))
}
func (e *LeasedError) Is(target error) bool { return target == ErrLeased }

// Apply folds fact f into its record and reconciles the record. It is
// idempotent: applying the same fact again changes nothing and finishes
// whatever a crashed attempt left undone.
func (s *Service) Apply(ctx context.Context, f billing.Fact) error {
	if l := s.cfg.Livemode; l != nil && f.Livemode != *l {
		return s.Skipped(ctx, f, fmt.Sprintf("a %s-mode event: this deployment serves %s mode", ModeName(f.Livemode), ModeName(*l)))
	}
	if f.Key == "" && (f.Kind == billing.CustomerChanged || f.Kind == billing.CustomerDeleted) {
		return s.applyToCustomer(ctx, f)
	}
	if f.Key == "" {
		key, err := s.resolve(ctx, f)
		if err != nil {
			return err
		}
		f.Key = key
	}
	// Another handler of this process drives the record (a fact's pass,
	// a timer's, an operator's): give up at once, with nothing written,
	// rather than hold a worker slot for a fold that would meet the
	// holder's writes and then a wait for it to finish (it is in a
	// provider call, more often than not). The *BusyError says when the
	// holder lets go; the event is folded then.
	unlock, err := s.locks.tryLock(f.Key)
	if err != nil {
		return fmt.Errorf("event %s not folded yet: %w", f.EventID, err)
	}
	defer func() { unlock() }()
	// The indexes are written while the fact is folded: writes of their
	// own, needed only before the event is settled (a redelivery writes
	// them again), so the fold does not wait for them.
	indexed := s.indexFact(ctx, f)
	// The fold takes the lease in the same write when the record then has
	// steps to take (the pass a Reconcile would start with a write of its
	// own). Otherwise the fold is written alone and Reconcile decides, as
	// for any record.
	p := &pass{Service: s, key: f.Key, token: newAttempt()}
	var leased bool
	var cut *Step
	var built *Record // what the last attempt wrote (or tried to)
	r, folded, err := s.store.updateFrom(ctx, f.Key, snapshot{}, func(r *Record) error {
		leased, cut, p.ready, built = false, nil, nil, r
		if r.applied(f.EventID) {
			return errNoChange
		}
		if paymentPending(r, f) {
			return fmt.Errorf("%w: event %s: the payment of %s is not folded into it yet", ErrUnknownAccount, f.EventID, f.Key)
		}
		fold(r, f, s.policy())
		leased, cut = p.leaseIfDue(r)
		if leased && cut == nil && len(r.SeatKeys()) == 0 {
			p.ready = p.readyCreate(r)
		}
		return nil
	})
	ierr := <-indexed
	if err != nil {
		if p.ready != nil {
			// The write's answer may be lost with the write stored: the
			// create's intent must not stay for a call never made.
			p.withdrawOr(ctx, f.Key, p.ready, built)
		}
		return errors.Join(err, ierr)
	}
	s.logReview(r, cut)
	if leased {
		p.last = folded
	} else {
		unlock()
		unlock = func() {}
	}
	// Every further seat follows the record (once the indexes are
	// stored); copying is idempotent, so a redelivery after a crash here
	// finishes it.
	var seats []string
	if err = ierr; err == nil {
		seats, err = s.propagateSeats(ctx, r)
	}
	if err != nil {
		if leased {
			p.release() // the create's intent it carried too
		}
		return err
	}
	var errs []error
	if leased {
		errs = append(errs, p.run(ctx, r))
	} else {
		errs = append(errs, s.reconcileFrom(ctx, f.Key, folded))
	}
	for _, key := range seats {
		errs = append(errs, s.Reconcile(ctx, key))
	}
	return errors.Join(errs...)
}

// indexFact writes the indexes that find f's record by the Stripe objects
// f names, and by its customer once it is bought (the facts that can change
// a customer's address matter only then; other facts do not write that
// index again), one after another in a goroutine of their own, so that
// they are written while the caller folds the fact. The channel gets their
// errors, joined, when every write is done.
func (s *Service) indexFact(ctx context.Context, f billing.Fact) <-chan error {
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, id := range []string{f.Invoice, f.PaymentIntent, f.Charge} {
			if err := s.store.index(ctx, id, f.Key); err != nil {
				errs = append(errs, fmt.Errorf("index %s: %w", id, err))
			}
		}
		if f.Kind == billing.Purchase || f.Kind == billing.Renewal {
			if err := s.store.indexCustomer(ctx, f.Customer, f.Key); err != nil {
				errs = append(errs, fmt.Errorf("index customer %s: %w", f.Customer, err))
			}
		}
		done <- errors.Join(errs...)
	}()
	return done
}

// applyToCustomer applies a fact about a customer to every account record
// of that customer. A customer with none yet changes nothing (their first
// purchase carries their address): the fact is recorded as skipped.
func (s *Service) applyToCustomer(ctx context.Context, f billing.Fact) error {
	keys, err := s.store.customerRecords(ctx, f.Customer)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return s.Skipped(ctx, f, "no account of customer "+f.Customer+" yet")
	}
	var errs []error
	for _, key := range keys {
		g := f
		g.Key = key
		errs = append(errs, s.Apply(ctx, g))
	}
	return errors.Join(errs...)
}

func (s *Service) policy() policy {
	return policy{grace: *s.cfg.GracePeriod, deleteAfter: *s.cfg.DeleteAfter}
}

// ErrUnknownAccount means a charge fact names a payment vpnbill has not
// seen yet (its purchase may arrive later): retry, and dead-letter after
// the deliveries run out.
var ErrUnknownAccount = errors.New("no account record for this payment yet")

// resolve finds the record of a fact that names only Stripe payment objects.
func (s *Service) resolve(ctx context.Context, f billing.Fact) (string, error) {
	for _, id := range []string{f.Charge, f.PaymentIntent, f.Invoice} {
		key, err := s.store.lookup(ctx, id)
		if err != nil {
			return "", err
		}
		if key != "" {
			return key, nil
		}
	}
	return "", fmt.Errorf("%w: event %s (charge %q, payment intent %q, invoice %q)", ErrUnknownAccount, f.EventID, f.Charge, f.PaymentIntent, f.Invoice)
}

// Skipped records, in the record's audit trail if it has one, that fact f
// changes nothing and why.
func (s *Service) Skipped(ctx context.Context, f billing.Fact, reason string) error {
	a := factAudit(events.AuditFactSkipped, f, reason)
	a.Account = f.Key
	return events.PublishAudit(ctx, s.js, a)
}
