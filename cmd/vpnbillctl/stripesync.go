package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpnbill/vpnbill/internal/ops"
)

func (a *app) stripeSyncCmd() *cobra.Command {
	var since string
	c := &cobra.Command{Use: "stripe-sync --since <RFC3339 time>",
		Short: "Store the Stripe events the webhook missed, read from the Stripe API (duplicates are skipped)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since == "" {
				return usagef("stripe-sync needs --since")
			}
			s, err := parseTime("since", since)
			if err != nil {
				return err
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			src, err := ops.NewStripeEvents(a.cfg.StripeAPIKey, a.cfg.StripeAPIURL)
			if err != nil {
				return err
			}
			n, err := o.StripeSync(cmd.Context(), src, s, func(c ops.SyncCounts) {
				fmt.Fprintf(a.errOut, "listed %d events: %d published, %d duplicates\n", c.Listed, c.Published, c.Duplicates)
			})
			if perr := a.print(n, func(t *table) {
				t.row("listed", n.Listed)
				t.row("published", n.Published)
				t.row("duplicates", n.Duplicates)
			}); err == nil {
				err = perr
			}
			return err
		}}
	c.Flags().StringVar(&since, "since", "", "list events created at or after this time (RFC 3339 or date)")
	return c
}
