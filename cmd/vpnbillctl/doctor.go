package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// doctorReport is what `doctor` prints with --json.
type doctorReport struct {
	Checks    []ops.Check `json:"checks"`
	Attention int         `json:"attention"` // checks that need attention; exit 3 if any
}

func (a *app) doctorCmd() *cobra.Command {
	var monitor []string
	var timeout time.Duration
	c := &cobra.Command{Use: "doctor [--nats-monitor http://<node>:8222,…]",
		Short: "Check a deployment end to end and say what is wrong and how to fix it; exit 3 if something needs attention",
		Long: `doctor checks, with the worker's environment, what a deployment needs before the first customer pays:
NATS reachable; JetStream; streams STRIPE, AUDIT, DEAD, TIMERS (and AUDIT_LATE if present), bucket
ACCOUNTS and the worker's consumers present, on file storage, with NATS_REPLICAS replicas, each
with a leader and current replicas; the JetStream sync setting of each server (from
--nats-monitor, or the system account; else "unknown", with how to check); SMTP (connect, EHLO,
STARTTLS, AUTH, nothing sent); each configured provider's authentication, with a read-only call
(PureVPN: the status of a username that cannot exist; VPNKI: the tunnels); STRIPE_MODE; that
STRIPE_API_KEY can list events, read a checkout session's line items and read a price; the format of
STRIPE_WEBHOOK_SECRET; every stripe_prices entry of the plans file in Stripe; the local clock against
the Date of a Stripe answer. A part not configured here is skipped.

It prints one row per check: ok, ATTENTION (with how to fix it), unknown (with how to check) or
skipped. Exit codes: 0 nothing needs attention, 3 something does, 1 doctor itself failed.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			cfg, cfgErr := a.configure()
			var checks []ops.Check
			if cfgErr != nil {
				checks = append(checks, ops.Check{Name: "configuration", Status: ops.CheckAttention, Detail: cfgErr.Error(),
					Fix: "fix the variables named (README, Configuration reference)"})
			}
			a.logger(cfg)
			d := a.doctor(cfg)
			d.Monitor, d.Timeout = monitor, timeout
			checks = append(checks, d.Run(cmd.Context())...)
			rep := doctorReport{Checks: checks, Attention: ops.Attention(checks)}
			if err := a.print(rep, func(t *table) {
				t.row("CHECK", "STATUS", "DETAIL", "FIX")
				for _, c := range checks {
					status := string(c.Status)
					if c.Status == ops.CheckAttention {
						status = strings.ToUpper(status)
					}
					t.row(c.Name, status, c.Detail, c.Fix)
				}
			}); err != nil {
				return err
			}
			if !a.json {
				fmt.Fprintf(a.out, "\n%s\n", summary(checks))
			}
			if rep.Attention > 0 {
				return errProblems
			}
			return nil
		}}
	c.Flags().StringSliceVar(&monitor, "nats-monitor", nil,
		"NATS monitoring `URLs` (each node's http: setting, e.g. http://127.0.0.1:8222), comma-separated: the JetStream sync setting is read there")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "bound on each check")
	return c
}

// summary is "14 checks: 11 ok, 1 need attention, 1 unknown, 1 skipped".
func summary(checks []ops.Check) string {
	n := map[ops.CheckStatus]int{}
	for _, c := range checks {
		n[c.Status]++
	}
	return fmt.Sprintf("%d checks: %d ok, %d need attention, %d unknown, %d skipped",
		len(checks), n[ops.CheckOK], n[ops.CheckAttention], n[ops.CheckUnknown], n[ops.CheckSkipped])
}

// logger sets a.log as connect does: JSON logs on stderr at LOG_LEVEL
// (info if that is not a level).
func (a *app) logger(cfg envconfig.Ctl) {
	if a.log != nil {
		return
	}
	lvl, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	a.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(a.errOut), lvl))
}

// doctor builds the parts doctor checks from cfg, as the worker would:
// the mailer, the providers' adapters, the Stripe API, the plans. A part
// that cannot be built is a finding, not an error.
func (a *app) doctor(cfg envconfig.Ctl) ops.Doctor {
	d := ops.Doctor{NATSURL: cfg.NATSURL, Replicas: cfg.Replicas, StripeURL: cfg.StripeAPIURL, WebhookSecrets: cfg.StripeWebhookSecret}
	if cfg.SMTPURL != "" {
		m, err := notify.New(notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom, Timeout: 10 * time.Second}, a.log.Named("smtp"))
		if err != nil {
			d.MailerErr = err
		} else {
			d.Mailer = m
		}
	}
	d.Providers, d.ProvidersErr = doctorProviders(cfg, a.log)
	live, decided, err := cfg.Livemode()
	switch {
	case err != nil:
		d.ModeErr = err
	case decided:
		d.StripeMode = provisioning.ModeName(live)
	}
	if cfg.StripeAPIKey != "" {
		d.Stripe, _ = ops.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIURL) // only an empty key fails
	}
	if cfg.PlansFile != "" {
		c, err := billing.LoadCatalog(cfg.PlansFile, registry.CheckPlan)
		if err != nil {
			d.PlansErr = err
		} else {
			d.Plans = c.Plans()
		}
	}
	return d
}

// doctorProviders builds the configured providers' adapters as the worker
// does (worker.ConfiguredProviders), each making one attempt per call
// (PROVIDER_RETRY_FOR=0; PROVIDER_TIMEOUT bounds it): doctor reports a
// failure rather than retry it.
func doctorProviders(cfg envconfig.Ctl, log *zap.Logger) (map[providers.Name]ops.ProviderProbe, error) {
	once := cfg.Providers
	once.ProviderRetryFor = 0
	provs, err := worker.ConfiguredProviders(once, log)
	if err != nil {
		return nil, err
	}
	out := make(map[providers.Name]ops.ProviderProbe, len(provs))
	for n, p := range provs {
		out[n] = p
	}
	return out, nil
}
