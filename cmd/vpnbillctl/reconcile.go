package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vpnbill/vpnbill/internal/ops"
)

func (a *app) reconcileCmd() *cobra.Command {
	var fix bool
	c := &cobra.Command{Use: "reconcile [--fix]",
		Short: "Compare every account record with its provider; exit 3 if they drift (--fix: suspend, resume, renew)",
		Long: `reconcile compares every account record with its provider (PureVPN: a status call per
account; VPNKI: one tunnel list) and prints each drift with what fixes it. --fix suspends,
resumes and renews at the provider where that is safe, and never deletes or creates anything.
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
			rep, err := o.Reconcile(cmd.Context(), ops.ReconcileOptions{
				Providers: provs, Fix: fix, Grace: a.cfg.GracePeriod,
				OnFix: func(d ops.Drift) {
					state := "fixed"
					if !d.Fixed {
						state = "not fixed"
					}
					fmt.Fprintf(a.errOut, "%s: %s %s %s %s: %s\n", state, d.Kind, d.Key, d.Provider, d.Username, d.Action)
				},
			})
			if err != nil {
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
			if rep.Unfixed() > 0 {
				return errProblems
			}
			return nil
		}}
	c.Flags().BoolVar(&fix, "fix", false, "suspend, resume and renew at the provider where that is safe (never deletes)")
	return c
}
