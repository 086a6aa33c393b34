package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// modeReport is what `vpnbillctl mode` prints.
type modeReport struct {
	// Configured: live or test as STRIPE_MODE and STRIPE_API_KEY in this
	// environment decide, or auto.
	Configured string `json:"configured"`
	// Pinned: the mode pinned in bucket ACCOUNTS (live or test), empty if none.
	Pinned   string    `json:"pinned,omitempty"`
	PinnedBy string    `json:"pinned_by,omitempty"` // the Stripe event whose mode was pinned
	PinnedAt time.Time `json:"pinned_at,omitzero"`
	// Served: what a worker with this environment serves: the configured
	// mode, else the pinned one, else "first event" (not decided yet).
	Served string `json:"served"`
}

func (a *app) modeCmd() *cobra.Command {
	return &cobra.Command{Use: "mode", Short: "The Stripe mode (live or test) the workers serve: configured here, and pinned in bucket ACCOUNTS",
		Long: `mode prints the Stripe mode STRIPE_MODE and STRIPE_API_KEY decide in this environment
(by the worker's rule; auto if neither does), the mode pinned in bucket ACCOUNTS by the
first event a deployment in auto mode processed, and so the mode a worker with this
environment serves. Events of the other mode are skipped and audited, never applied.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.connect()
			if err != nil {
				return err
			}
			live, decided, err := a.cfg.Livemode()
			if err != nil {
				return err
			}
			kv, err := o.JS.KeyValue(cmd.Context(), events.BucketAccounts)
			if err != nil {
				return fmt.Errorf("bucket %s: %w", events.BucketAccounts, err)
			}
			pin, pinned, err := provisioning.NewStore(kv).PinnedMode(cmd.Context())
			if err != nil {
				return err
			}
			m := modeReport{Configured: "auto", Served: "first event"}
			if pinned {
				m.Pinned, m.PinnedBy, m.PinnedAt, m.Served = pin.Mode, pin.Event, pin.At, pin.Mode
			}
			if decided {
				m.Configured = provisioning.ModeName(live)
				m.Served = m.Configured
			}
			return a.print(m, func(t *table) {
				t.row("configured", m.Configured)
				if pinned {
					t.row("pinned", fmt.Sprintf("%s (by %s at %s)", m.Pinned, m.PinnedBy, formatTime(m.PinnedAt)))
				} else {
					t.row("pinned", "none")
				}
				t.row("served", m.Served)
				if decided && pinned && m.Pinned != m.Configured {
					t.row("note", "a worker without STRIPE_MODE and STRIPE_API_KEY serves the pinned mode: set STRIPE_MODE on every worker")
				}
			})
		}}
}
