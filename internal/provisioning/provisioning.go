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
	Username string    // PureVPN username or VPNKI tunnel name
	Login    string    // VPNKI login, if it differs from the tunnel name
	Password string    //
	Server   string    // VPNKI address; empty for PureVPN
	Expiry   time.Time // zero where the provider keeps none
}

// Provider is what the reconciler needs of a VPN provider. Methods the
// provider lacks (see providers.CapabilitiesOf) are never called: the
// reconciler has an explicit rule for each. Every error is a
// *providers.Error whose class says what may be done next.
type Provider interface {
	// Create makes a new account for plan. It is not idempotent: after an
	// Uncertain error the account may exist, and Create must not be
	// called again for the same order without proof that it does not.
	Create(ctx context.Context, plan billing.Plan) (Credentials, error)
}

// Mailer sends one email. Errors wrapping notify.ErrPermanent mean the
// message can never be delivered; any other error may succeed later.
type Mailer interface {
	Send(ctx context.Context, m notify.Message) error
}

// Config configures a Service.
type Config struct {
	// Owner names this worker process in leases; default hostname-pid-random.
	Owner string
	// LeaseFor is how long a worker may drive a record without writing. Default 2m.
	LeaseFor time.Duration
	// MailDomain is the right-hand side of Message-IDs. Default "vpnbill".
	MailDomain string
	// Failpoint, if set, is called at every step boundary with its name
	// ("intent.create", "call.create", "result.create", "email.welcome",
	// "result.email.welcome", …). Crash tests end the process there.
	Failpoint func(name string)
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// WithDefaults returns a copy of c with every zero field set to its default.
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
	if c.MailDomain == "" {
		c.MailDomain = "vpnbill"
	}
	if c.Failpoint == nil {
		c.Failpoint = func(string) {}
	}
	if c.Now == nil {
		c.Now = time.Now
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
	if f.Key == "" {
		return fmt.Errorf("fact %s names no account", f.EventID)
	}
	_, _, err := s.store.Update(ctx, f.Key, func(r *Record) error {
		if r.applied(f.EventID) {
			return errNoChange
		}
		fold(r, f)
		return nil
	})
	if err != nil {
		return err
	}
	return s.Reconcile(ctx, f.Key)
}

// Skipped records, in the record's audit trail if it has one, that fact f
// changes nothing and why.
func (s *Service) Skipped(ctx context.Context, f billing.Fact, reason string) error {
	a := factAudit(events.AuditFactSkipped, f, reason)
	a.Account = f.Key
	return events.PublishAudit(ctx, s.js, a)
}
