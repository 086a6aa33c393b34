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
}

// Run declares the topology, then handles Stripe events until ctx is done
// and the messages in flight are settled.
func Run(ctx context.Context, js jetstream.JetStream, cfg Config, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Plans == nil {
		return errors.New("no plan catalog")
	}
	if m := cfg.Metrics; m != nil {
		cfg.PureVPN.Observe = m.Provider(providers.PureVPN, cfg.PureVPN.Observe)
		cfg.VPNKI.Observe = m.Provider(providers.VPNKI, cfg.VPNKI.Observe)
	}
	provs := map[providers.Name]provisioning.Provider{}
	if cfg.PureVPN.URL != "" {
		if cfg.PureVPN.Logger == nil {
			cfg.PureVPN.Logger = log.Named("purevpn")
		}
		c, err := purevpn.New(cfg.PureVPN)
		if err != nil {
			return fmt.Errorf("purevpn: %w", err)
		}
		provs[providers.PureVPN] = PureVPN{Client: c}
	}
	if cfg.VPNKI.URL != "" {
		if cfg.VPNKI.Logger == nil {
			cfg.VPNKI.Logger = log.Named("vpnki")
		}
		c, err := vpnki.New(cfg.VPNKI)
		if err != nil {
			return fmt.Errorf("vpnki: %w", err)
		}
		provs[providers.VPNKI] = VPNKI{Client: c}
	}
	for _, p := range cfg.Plans.Plans() {
		if _, ok := provs[providers.Name(p.Provider)]; !ok {
			return fmt.Errorf("plan %s uses provider %s, which is not configured", p.ID, p.Provider)
		}
	}
	smtp, err := notify.New(cfg.Mail, log.Named("mail"))
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	var mailer provisioning.Mailer = smtp
	if cfg.Metrics != nil {
		mailer = cfg.Metrics.Mailer(smtp)
	}
	sealer, err := provisioning.NewSealer(cfg.CredentialsKey)
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
	svc := provisioning.New(cfg.Provisioning, provisioning.NewStore(topo.Accounts), js, provs, mailer, sealer, log.Named("provisioning"))
	w := New(&billing.Translator{Catalog: cfg.Plans, LineItems: cfg.LineItems}, svc, cfg.Provisioning.Failpoint, log)
	cc := cfg.Consumer
	cc.MaxDeliver, cc.AckWait = topo.Config.MaxDeliver, topo.Config.AckWait
	if cc.Logger == nil {
		cc.Logger = log.Named("consumer")
	}
	log.Info("worker started", zap.Int("plans", len(cfg.Plans.Plans())), zap.Int("providers", len(provs)))
	tc := cc
	tc.Logger = log.Named("timers")
	tc.MaxDeliver = math.MaxInt32 // a timer is redelivered until due, never dead-lettered for it
	if cfg.Metrics != nil {
		cc = cfg.Metrics.Consumer(events.ConsumerWorker, cc)
		tc = cfg.Metrics.Consumer(events.ConsumerTimers, tc)
	}
	errc := make(chan error, 1)
	go func() { errc <- events.NewConsumer(js, timers, w.HandleTimer, tc).Run(ctx) }()
	err = events.NewConsumer(js, cons, w.Handle, cc).Run(ctx)
	return errors.Join(err, <-errc)
}
