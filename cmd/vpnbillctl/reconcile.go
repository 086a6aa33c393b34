package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpnbill/vpnbill/internal/ops"
)

func (a *app) reconcileCmd() *cobra.Command {
	var fix bool
	c := &cobra.Command{Use: "reconcile [--fix]",
		Short: "Compare every account record with its provider; exit 3 if they drift (--fix: suspend, resume, renew)",
		Long: `reconcile compares every account record with its provider (PureVPN: a status call per
account; VPNKI: one tunnel list) and prints each drift with what fixes it.

--fix corrects what drifted in a record whose account is enabled, disabled or short of its
paid-through time, through the worker's own steps: under the record's lease it reads the
account at the provider, writes what it found into the record, then lets the record's rules
suspend, resume or renew it (renew after a fresh status, only while short), audited like the
worker's, and sends the emails the record owes. It never creates or deletes anything. A record
a worker holds is waited for (up to 30s), then reported busy. --fix needs the worker's
variables (PLANS_FILE, SMTP_URL, MAIL_FROM, CREDENTIALS_KEY and the providers').
Every run's result (when, who, records, drift, unfixed) is recorded in stream AUDIT
(audit.reconcile.run); the console's overview shows the last one.
Exit 0: no drift (or all of it fixed); 3: drift remains.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.connect()
			if err != nil {
				return err
			}
			provs, err := providersFrom(a.cfg, a.log)
			if err != nil {
				return err
			}
			if len(provs) == 0 {
				return fmt.Errorf("reconcile: no provider is %w (PUREVPN_API_URL…, VPNKI_API_URL…)", ops.ErrNotConfigured)
			}
			var refresher ops.Refresher
			if fix {
				svc, err := provisioner(cmd.Context(), o, a.cfg, a.log)
				if err != nil {
					return fmt.Errorf("reconcile --fix takes the worker's steps and needs the worker's variables: %w", err)
				}
				refresher = svc
			}
			rep, err := o.Reconcile(cmd.Context(), ops.ReconcileOptions{
				Providers: provs, Fix: fix, Refresher: refresher, Grace: new(a.cfg.GracePeriod), By: "vpnbillctl",
				OnFix: func(d ops.Drift) {
					state := "fixed"
					if !d.Fixed {
						state = "not fixed"
					}
					fmt.Fprintf(a.errOut, "%s: %s %s %s %s: %s\n", state, d.Kind, d.Key, d.Provider, d.Username, d.Action)
				},
			})
			notRecorded := errors.Is(err, ops.ErrRunNotRecorded)
			if err != nil && !notRecorded {
				return err
			}
			if err := a.print(rep, func(t *table) {
				t.row("KEY", "PROVIDER", "USERNAME", "KIND", "DETAIL", "FIX")
				for _, d := range rep.Drift {
					what := d.Remedy
					if d.Action != "" {
						what = d.Action
					}
					t.row(d.Key, d.Provider, d.Username, string(d.Kind), d.Detail, what)
				}
			}); err != nil {
				return err
			}
			fmt.Fprintf(a.errOut, "%d records, %d tunnels checked; %d drift, %d unfixed\n", rep.Records, rep.Tunnels, len(rep.Drift), rep.Unfixed())
			if notRecorded {
				fmt.Fprintf(a.errOut, "warning: %v (the console's overview will not show this run)\n", err)
			}
			if rep.Unfixed() > 0 {
				return errProblems
			}
			return nil
		}}
	c.Flags().BoolVar(&fix, "fix", false, "suspend, resume and renew through the worker's steps (never creates or deletes)")
	return c
}
