package worker

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/metrics"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// Config is everything a worker process needs, read by cmd/ and handed down.
type Config struct {
	Events       events.Config
	Consumer     events.ConsumerConfig
	Provisioning provisioning.Config
	Plans        *billing.Catalog
	// PureVPN configures the PureVPN client; a zero URL means not configured.
	PureVPN purevpn.Config
	// VPNKI configures the VPNKI client; a zero URL means not configured.
	VPNKI vpnki.Config
	Mail  notify.Config
	// CredentialsKey is the 32-byte key sealing stored credentials.
	CredentialsKey []byte
	// LineItems reads checkout line items from the Stripe API; nil if no key.
	LineItems billing.LineItems
	// Metrics records the worker's metrics (consumers, providers, emails);
	// nil records none.
	Metrics *metrics.Worker
	// Timers configures the scanner that turns the timers falling due into
	// due work; its Logger defaults to the worker's.
	Timers events.TimerScannerConfig
	// Livemode is the Stripe mode served (envconfig.Worker.Livemode): true
	// live, false test; nil: the mode the deployment's first event pins in
	// bucket ACCOUNTS. Events of the other mode are skipped (Mode).
	Livemode *bool
}

// Run declares the topology, then handles Stripe events until ctx is done
// and the messages in flight are settled.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	parts, err := newParts(cfg, log)
	if err != nil {
		return err
	}
	var topo *events.Topology
	var cons, timers jetstream.Consumer
	err = events.UntilReady(ctx, log, func(ctx context.Context) (err error) {
		if topo, err = events.Setup(ctx, js, cfg.Events); err != nil {
			return err
		}
		if cons, err = topo.WorkerConsumer(ctx); err != nil {
			return err
		}
		timers, err = topo.TimerConsumer(ctx)
		return err
	})
	if ctx.Err() != nil {
		return nil //nolint:nilerr // stopped before NATS was ready: a clean stop, not a failure
	}
	if err != nil {
		return err
	}
	svc := parts.service(cfg, js, topo.Accounts, log)
	mode := Mode{Livemode: cfg.Livemode, Pins: provisioning.NewStore(topo.Accounts)}
	if cfg.Metrics != nil {
		mode.Skipped = cfg.Metrics.OtherMode
	}
	w := New(&billing.Translator{Catalog: cfg.Plans, LineItems: cfg.LineItems}, svc, mode, cfg.Provisioning.Failpoint, log)
	w.CheckMode(ctx)
	cc := cfg.Consumer
	cc.MaxDeliver, cc.AckWait = topo.Config.MaxDeliver, topo.Config.AckWait
	if cc.Logger == nil {
		cc.Logger = log.Named("consumer")
	}
	log.Info("worker started", zap.Int("plans", len(cfg.Plans.Plans())), zap.Int("providers", len(parts.providers)))
	tc := cc
	tc.Logger = log.Named("timers")
	tc.MaxDeliver = math.MaxInt32 // a due timer is retried until its record is reconciled, never dead-lettered for it
	if cfg.Metrics != nil {
		cc = cfg.Metrics.Consumer(events.ConsumerWorker, cc)
		tc = cfg.Metrics.Consumer(events.ConsumerTimers, tc)
	}
	sc := cfg.Timers
	if sc.Logger == nil {
		sc.Logger = log.Named("timer-scanner")
	}
	errc := make(chan error, 2)
	go func() { errc <- events.NewTimerScanner(js, sc).Run(ctx) }()
	go func() { errc <- events.NewConsumer(js, timers, events.RemoveDone(js, w.HandleTimer), tc).Run(ctx) }()
	err = events.NewConsumer(js, cons, w.Handle, cc).Run(ctx)
	return errors.Join(err, <-errc, <-errc)
}

// parts are what a provisioning service is built from, checked before NATS
// is waited for so a bad configuration fails at once.
type parts struct {
	providers map[providers.Name]provisioning.Provider
	mailer    provisioning.Mailer
	sealer    *provisioning.Sealer
}

func newParts(cfg Config, log *zap.Logger) (*parts, error) {
	if cfg.Plans == nil {
		return nil, errors.New("no plan catalog")
	}
	if m := cfg.Metrics; m != nil {
		cfg.PureVPN.Observe = m.Provider(providers.PureVPN, purevpn.Methods(), cfg.PureVPN.Observe)
		cfg.VPNKI.Observe = m.Provider(providers.VPNKI, vpnki.Methods(), cfg.VPNKI.Observe)
	}
	provs, err := NewProviders(cfg.PureVPN, cfg.VPNKI, log)
	if err != nil {
		return nil, err
	}
	p := &parts{providers: provs}
	for _, plan := range cfg.Plans.Plans() {
		if _, ok := p.providers[providers.Name(plan.Provider)]; !ok {
			return nil, fmt.Errorf("plan %s uses provider %s, which is not configured", plan.ID, plan.Provider)
		}
	}
	if cfg.Mail.IdleSessions == 0 {
		// A handler sends one email at a time: keep as many sessions open
		// as there are handlers of Stripe events, so that a busy worker
		// does not close and open sessions all the time.
		cfg.Mail.IdleSessions = cfg.Consumer.WithDefaults().Concurrency
	}
	smtp, err := notify.New(cfg.Mail, log.Named("mail"))
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	p.mailer = smtp
	if cfg.Metrics != nil {
		p.mailer = cfg.Metrics.Mailer(smtp)
	}
	if p.sealer, err = provisioning.NewSealer(cfg.CredentialsKey); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *parts) service(cfg Config, js jetstream.JetStream, accounts jetstream.KeyValue, log *zap.Logger) *provisioning.Service {
	pc := cfg.Provisioning
	if pc.Livemode == nil {
		pc.Livemode = cfg.Livemode // the service's own guard, behind the worker's check
	}
	return provisioning.New(pc, provisioning.NewStore(accounts), js, p.providers, p.mailer, p.sealer, log.Named("provisioning"))
}

// NewProviders builds the provider adapters of the configured clients (a
// zero URL: not configured), as the worker uses them.
func NewProviders(pc purevpn.Config, vc vpnki.Config, log *zap.Logger) (map[providers.Name]provisioning.Provider, error) {
	provs := map[providers.Name]provisioning.Provider{}
	if pc.URL != "" {
		if pc.Logger == nil {
			pc.Logger = log.Named("purevpn")
		}
		c, err := purevpn.New(pc)
		if err != nil {
			return nil, fmt.Errorf("purevpn: %w", err)
		}
		provs[providers.PureVPN] = PureVPN{Client: c}
	}
	if vc.URL != "" {
		if vc.Logger == nil {
			vc.Logger = log.Named("vpnki")
		}
		c, err := vpnki.New(vc)
		if err != nil {
			return nil, fmt.Errorf("vpnki: %w", err)
		}
		provs[providers.VPNKI] = VPNKI{Client: c}
	}
	return provs, nil
}

// NewService builds the provisioning service a worker runs, from cfg, over
// bucket accounts: for operators' tools that act as a worker would.
func NewService(cfg Config, js jetstream.JetStream, accounts jetstream.KeyValue, log *zap.Logger) (*provisioning.Service, error) {
	if log == nil {
		log = zap.NewNop()
	}
	p, err := newParts(cfg, log)
	if err != nil {
		return nil, err
	}
	return p.service(cfg, js, accounts, log), nil
}
