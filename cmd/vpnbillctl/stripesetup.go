package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// configure loads the configuration without connecting to NATS, for the
// commands that need no NATS or test it themselves (stripe setup, doctor).
func (a *app) configure() (envconfig.Ctl, error) {
	cfg, err := envconfig.LoadCtlFrom(a.environ)
	a.cfg = cfg
	return cfg, err
}

// stripeSetupReport is what `stripe setup` prints with --json.
type stripeSetupReport struct {
	Mode     string              `json:"mode,omitempty"` // live or test: the key's
	Endpoint *ops.EndpointResult `json:"endpoint,omitempty"`
	Catalog  []ops.CatalogRow    `json:"catalog,omitempty"`
}

func (a *app) stripeCmd() *cobra.Command {
	stripeGroup := &cobra.Command{Use: "stripe", Short: "Configure Stripe for vpnbill", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	var endpointURL, plansFile string
	var recreate bool
	setup := &cobra.Command{Use: "setup --url https://<host>/stripe/webhook [--plans FILE] [--recreate]",
		Short: "Create or update the webhook endpoint (and with --plans the products and prices) in Stripe; running it again changes nothing",
		Long: `setup makes Stripe send vpnbill what it needs, with STRIPE_API_KEY (a secret key, or a restricted key
with write access to Webhook Endpoints, and with --plans to Products and Prices), in that key's mode.

--url: creates the webhook endpoint at that address, subscribed to exactly the event types vpnbill
handles, in the newest Stripe API version vpnbill reads (` + ops.EndpointVersion() + `), and prints its
signing secret (Stripe returns it only then: put it in STRIPE_WEBHOOK_SECRET). An endpoint of that
address that exists is updated: its event types set, enabled if disabled. Stripe cannot change an
endpoint's API version: one of the account's default version or a version vpnbill does not read is
reported (exit 3); --recreate deletes it and creates it again, with a new signing secret.

--plans: for each plan of the plans file, the product (metadata vpnbill_plan=<plan id>, named as the
plan) and its stripe_prices: each lookup key Stripe lacks is created from the plan's price (amount,
currency, recurring every period_days unless one_off). A price id or lookup key Stripe lacks and
setup cannot create, and a price whose amount or interval differ from the plan's, are reported
(exit 3), never changed.

Exit codes: 0 done, 3 done and something needs attention (the output says what).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if endpointURL == "" && plansFile == "" {
				return usagef("stripe setup needs --url, --plans or both")
			}
			if endpointURL != "" {
				if err := ops.CheckEndpointURL(endpointURL); err != nil {
					return &usageError{err}
				}
			}
			cfg, err := a.configure()
			if err != nil {
				return err
			}
			var plans []billing.Plan
			if plansFile != "" {
				c, err := billing.LoadCatalog(plansFile, registry.CheckPlan)
				if err != nil {
					return err
				}
				plans = c.Plans()
			}
			live, decided, err := cfg.Livemode()
			if err != nil {
				return err
			}
			api, err := ops.NewStripeAPI(cfg.StripeAPIKey, cfg.StripeAPIURL)
			if err != nil {
				return fmt.Errorf("stripe setup: %w", err)
			}
			var rep stripeSetupReport
			if decided {
				rep.Mode = provisioning.ModeName(live)
			}
			var runErr error
			if endpointURL != "" {
				r, err := api.SetupEndpoint(cmd.Context(), ops.EndpointSetup{URL: endpointURL, Recreate: recreate})
				if err == nil || r.ID != "" {
					rep.Endpoint = &r
				}
				runErr = err
			}
			if runErr == nil && plans != nil {
				rep.Catalog, runErr = api.SetupCatalog(cmd.Context(), plans)
			}
			if err := a.printStripeSetup(rep); err != nil && runErr == nil {
				runErr = err
			}
			if runErr != nil {
				return runErr
			}
			if rep.attention() > 0 {
				fmt.Fprintf(a.errOut, "%d things need attention (above)\n", rep.attention())
				return errProblems
			}
			return nil
		}}
	setup.Flags().StringVar(&endpointURL, "url", "", "the webhook's public address, https://<host>/stripe/webhook")
	setup.Flags().StringVar(&plansFile, "plans", "", "a plans file (e.g. \"$PLANS_FILE\"): create or update its products and prices")
	setup.Flags().BoolVar(&recreate, "recreate", false, "delete and create again an endpoint whose API version cannot stay (a new signing secret)")
	stripeGroup.AddCommand(setup)
	return stripeGroup
}

// attention counts what needs the operator: endpoint problems and catalog
// rows Stripe lacks or differs in.
func (r stripeSetupReport) attention() int {
	n := 0
	if r.Endpoint != nil {
		n += len(r.Endpoint.Problems)
	}
	for _, row := range r.Catalog {
		if row.Attention() {
			n++
		}
	}
	return n
}

func (a *app) printStripeSetup(rep stripeSetupReport) error {
	if a.json {
		return a.print(rep, nil)
	}
	if err := a.print(rep, func(t *table) {
		if rep.Mode != "" {
			t.row("mode", rep.Mode+" (STRIPE_API_KEY's)")
		}
		e := rep.Endpoint
		if e == nil {
			return
		}
		t.row("webhook endpoint", e.ID+" "+e.Action)
		t.row("url", e.URL)
		for _, c := range e.Changes {
			t.row("changed", c)
		}
		version := e.APIVersion
		switch {
		case version == "":
			version = "the account's default"
		case version != ops.EndpointVersion():
			version += " (read by vpnbill; the newest it reads is " + ops.EndpointVersion() + ")"
		}
		t.row("api_version", version)
		if slices.Equal(slices.Sorted(slices.Values(e.EnabledEvents)), slices.Sorted(slices.Values(billing.HandledTypes))) {
			t.row("enabled_events", fmt.Sprintf("the %d types vpnbill handles", len(e.EnabledEvents)))
		} else {
			t.row("enabled_events", strings.Join(e.EnabledEvents, ", "))
		}
		for _, d := range e.Duplicates {
			t.row("duplicate", d+" has the same URL: it delivers every event again; delete it in the Dashboard")
		}
		for _, p := range e.Problems {
			t.row("NEEDS ATTENTION", p)
		}
	}); err != nil {
		return err
	}
	if e := rep.Endpoint; e != nil && (e.Action == ops.ActionCreated || e.Action == ops.ActionRecreated) {
		if e.Secret != "" {
			fmt.Fprintf(a.out, "\nsigning secret: %s\n", e.Secret)
			fmt.Fprintln(a.out, "Put it in STRIPE_WEBHOOK_SECRET (beside the old one, comma-separated, while you switch) and restart the webhooks.")
			fmt.Fprintln(a.out, "Stripe returns it only now; the Dashboard (Developers → Webhooks → the endpoint) can reveal it later.")
		} else {
			fmt.Fprintln(a.out, "\nStripe returned no signing secret: reveal it in the Dashboard (Developers → Webhooks → the endpoint) and put it in STRIPE_WEBHOOK_SECRET.")
		}
	}
	if len(rep.Catalog) == 0 {
		return nil
	}
	fmt.Fprintln(a.out)
	return a.print(rep, func(t *table) {
		t.row("PLAN", "OBJECT", "ID", "ACTION", "DETAIL")
		for _, r := range rep.Catalog {
			action := r.Action
			if r.Attention() {
				action = strings.ToUpper(action)
			}
			t.row(r.Plan, r.Object, r.ID, action, r.Detail)
		}
	})
}
