package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/version"
)

// Exit codes.
const (
	exitOK       = 0 // done
	exitError    = 1 // failed
	exitUsage    = 2 // bad command line
	exitProblems = 3 // done, and found problems (report mismatches, reconcile drift, doctor's and stripe setup's attention)
)

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// errProblems: the command ran and found problems; its output says which.
var errProblems = errors.New("problems found")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, args, os.Environ(), stdout, stderr)
}

// execute runs the command line args with environment environ.
func execute(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	a := &app{environ: environ, out: stdout, errOut: stderr}
	defer a.close()
	root := a.root()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "vpnbillctl:", err)
		fmt.Fprintln(stderr, "run 'vpnbillctl --help' for usage")
		return exitUsage
	default:
		fmt.Fprintln(stderr, "vpnbillctl:", err)
		return exitError
	}
}

// app holds what the commands share: configuration, connection, output.
type app struct {
	environ     []string
	out, errOut io.Writer
	json        bool

	cfg     envconfig.Ctl
	log     *zap.Logger
	ops     *ops.Ops
	closeFn func()
}

func (a *app) close() {
	if a.closeFn != nil {
		a.closeFn()
	}
	if a.log != nil {
		_ = a.log.Sync()
	}
}

// connect loads the configuration and connects to NATS, once.
func (a *app) connect() (*ops.Ops, error) {
	if a.ops != nil {
		return a.ops, nil
	}
	cfg, err := envconfig.LoadCtlFrom(a.environ)
	if err != nil {
		return nil, err
	}
	a.cfg = cfg
	lvl, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	// JSON logs on the command's stderr, as the other commands'.
	a.log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(a.errOut), lvl))
	if a.ops, a.closeFn, err = connect(cfg, a.log); err != nil {
		return nil, err
	}
	return a.ops, nil
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "vpnbillctl",
		Short: "Operate vpnbill: dead letters, reviews, accounts, replay, usage, the finance report, reconciliation, Stripe catch-up and setup, the deployment's check",
		Long: `vpnbillctl operates vpnbill over its NATS JetStream streams and account records.
Configuration comes from the environment, with the worker's variable names (README.md).

Exit codes: 0 done, 1 failed, 2 bad command line, 3 done and problems found (report mismatches,
reconcile drift, what doctor and stripe setup say needs attention).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.ArbitraryArgs, // groupRunE answers unknown commands: exit 2
		RunE:          groupRunE,
	}
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print JSON instead of tables")
	// --version: the line every vpnbill command prints (internal/version).
	root.Version = version.Get().String()
	root.SetVersionTemplate(version.Get().Line("vpnbillctl") + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(a.deadCmd(), a.reviewCmd(), a.accountsCmd(), a.resendCmd(), a.replayCmd(), a.usageCmd(), a.reportCmd(),
		a.reconcileCmd(), a.stripeSyncCmd(), a.modeCmd(), a.stripeCmd(), a.doctorCmd())
	return root
}

// groupRunE answers a group command run without (or with an unknown) subcommand.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	_ = cmd.Help()
	return usagef("%s needs a subcommand", cmd.CommandPath())
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

func parseSeq(s string) (uint64, error) {
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil || seq == 0 {
		return 0, usagef("%q is not a stream sequence", s)
	}
	return seq, nil
}

func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--%s %q: want an RFC 3339 time or a date (2006-01-02)", flag, s)
}

func (a *app) deadCmd() *cobra.Command {
	dead := &cobra.Command{Use: "dead", Short: "Dead letters (stream DEAD)", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	list := &cobra.Command{Use: "list", Short: "List dead letters", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.connect()
			if err != nil {
				return err
			}
			ds, err := o.DeadLetters(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(ds, func(t *table) {
				t.row("SEQ", "TIME", "SUBJECT", "EVENT", "REASON", "DELIVERIES")
				for _, d := range ds {
					t.row(d.Seq, d.Time, d.Subject, d.EventID, truncate(d.Reason, 80), d.Deliveries)
				}
			})
		}}
	var raw bool
	show := &cobra.Command{Use: "show <seq>", Short: "Show a dead letter's headers and event id and type (--raw: its body)",
		Args: exactArgs(1, "a sequence"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			d, err := o.DeadLetter(cmd.Context(), seq)
			if err != nil {
				return err
			}
			if raw {
				_, err := a.out.Write(append(d.Data, '\n'))
				return err
			}
			return a.print(d, func(t *table) {
				t.row("seq", d.Seq)
				t.row("time", d.Time)
				t.row("subject", d.Subject)
				t.row("stream", fmt.Sprintf("%s #%d", d.Stream, d.StreamSeq))
				t.row("event", d.EventID)
				t.row("type", d.EventType)
				t.row("deliveries", d.Deliveries)
				t.row("reason", d.Reason)
				for _, k := range sortedKeys(d.Header) {
					t.row("header "+k, d.Header.Get(k))
				}
			})
		}}
	show.Flags().BoolVar(&raw, "raw", false, "print the message body (the raw Stripe event) instead")
	var all bool
	retry := &cobra.Command{Use: "retry <seq> | --all", Short: "Publish dead letters again to their original subject, then delete them",
		Args: func(cmd *cobra.Command, args []string) error {
			if all == (len(args) == 1) || len(args) > 1 {
				return usagef("%s takes a sequence or --all", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var seq uint64
			if !all {
				var err error
				if seq, err = parseSeq(args[0]); err != nil {
					return err
				}
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			var done []ops.Retried
			if all {
				done, err = o.RetryAllDead(cmd.Context())
			} else {
				var r ops.Retried
				if r, err = o.RetryDead(cmd.Context(), seq); err == nil {
					done = append(done, r)
				}
			}
			if perr := a.print(done, func(t *table) {
				t.row("SEQ", "REPUBLISHED TO", "MSG ID")
				for _, r := range done {
					t.row(r.Seq, r.Subject, r.MsgID)
				}
			}); err == nil {
				err = perr
			}
			return err
		}}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead letter")
	var yes bool
	drop := &cobra.Command{Use: "drop <seq> --yes", Short: "Delete a dead letter for good", Args: exactArgs(1, "a sequence"),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := parseSeq(args[0])
			if err != nil {
				return err
			}
			if !yes {
				return usagef("dead drop deletes the message for good: add --yes")
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			if err := o.DropDead(cmd.Context(), seq); err != nil {
				return err
			}
			return a.print(map[string]any{"dropped": seq}, func(t *table) { t.row("dropped", seq) })
		}}
	drop.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	dead.AddCommand(list, show, retry, drop)
	return dead
}

func (a *app) reviewCmd() *cobra.Command {
	review := &cobra.Command{Use: "review", Short: "Records waiting for an operator's decision", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	list := &cobra.Command{Use: "list", Short: "List records in review", Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.connect()
			if err != nil {
				return err
			}
			rs, err := o.Reviews(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(rs, func(t *table) {
				t.row("KEY", "SINCE", "REASON", "EMAIL", "PLAN")
				for _, r := range rs {
					t.row(r.Key, r.Since, truncate(r.Reason, 80), r.Email, r.Plan)
				}
			})
		}}
	var adopt string
	var retry, giveUp bool
	resolve := &cobra.Command{Use: "resolve <key> --adopt USERNAME | --retry | --give-up",
		Short: "Decide: adopt the account found at the provider, create again, or give up (refund due)",
		Args:  exactArgs(1, "a record key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var action provisioning.ReviewAction
			n := 0
			if adopt != "" {
				action, n = provisioning.ReviewAdopt, n+1
			}
			if retry {
				action, n = provisioning.ReviewRetry, n+1
			}
			if giveUp {
				action, n = provisioning.ReviewGiveUp, n+1
			}
			if n != 1 {
				return usagef("review resolve needs exactly one of --adopt USERNAME, --retry, --give-up")
			}
			if err := a.withProvisioner(cmd.Context()); err != nil {
				return err
			}
			if err := a.ops.Resolve(cmd.Context(), args[0], action, adopt); err != nil {
				return err
			}
			return a.print(map[string]string{"key": args[0], "resolved": string(action)}, func(t *table) {
				t.row("resolved", args[0], string(action))
			})
		}}
	resolve.Flags().StringVar(&adopt, "adopt", "", "the username of the account found at the provider")
	resolve.Flags().BoolVar(&retry, "retry", false, "no account exists at the provider: create one")
	resolve.Flags().BoolVar(&giveUp, "give-up", false, "deliver nothing; the order is flagged for a refund")
	review.AddCommand(list, resolve)
	return review
}

// withProvisioner connects and sets up provisioning, as the worker does.
func (a *app) withProvisioner(ctx context.Context) error {
	o, err := a.connect()
	if err != nil {
		return err
	}
	svc, err := provisioner(ctx, o, a.cfg, a.log)
	if err != nil {
		return err
	}
	o.Provisioner = svc
	return nil
}

func (a *app) accountsCmd() *cobra.Command {
	accounts := &cobra.Command{Use: "accounts", Short: "Account records", Args: cobra.ArbitraryArgs, RunE: groupRunE}
	show := &cobra.Command{Use: "show <subscription-or-checkout-id | email>", Short: "Show account records (never a password)",
		Args: exactArgs(1, "a subscription id, checkout session id or email"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.connect()
			if err != nil {
				return err
			}
			accts, err := o.Accounts(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(accts, func(t *table) {
				for i, ac := range accts {
					if i > 0 {
						t.row("")
					}
					printAccount(t, ac)
				}
			})
		}}
	accounts.AddCommand(show)
	return accounts
}

func printAccount(t *table, ac ops.Account) {
	d, x := ac.Desired, ac.Actual
	t.row("key", ac.Key)
	t.row("created", ac.Created)
	t.row("email", d.Email)
	t.row("customer", d.Customer)
	t.row("subscription", d.Subscription)
	t.row("checkout", d.Checkout)
	t.row("desired status", d.Status)
	t.row("plan", fmt.Sprintf("%s (%s)", d.Plan, d.Provider))
	t.row("paid through", d.PaidThrough)
	t.row("suspend at", d.SuspendAt)
	t.row("cancel at", d.CancelAt)
	t.row("delete at", d.DeleteAt)
	t.row("provider", x.Provider)
	t.row("username", x.Username)
	t.row("exists / enabled", fmt.Sprintf("%t / %t", x.Exists, x.Enabled))
	t.row("expiry", x.Expiry)
	t.row("account created", x.CreatedAt)
	t.row("credentials stored", x.CredentialsStored)
	if ac.Step != "" {
		t.row("step in flight", ac.Step)
	}
	if ac.Review != nil {
		t.row("review", fmt.Sprintf("since %s: %s", ac.Review.Since.UTC().Format(time.RFC3339), ac.Review.Reason))
	}
	t.row("refund due", ac.RefundDue)
	for _, e := range ac.Emails {
		status := "sent " + formatTime(e.Sent)
		if e.Failed != "" {
			status = "failed: " + e.Failed
		}
		t.row("email "+e.ID, status)
	}
	for _, id := range ac.Pending {
		t.row("email "+id, "pending")
	}
}

func (a *app) resendCmd() *cobra.Command {
	return &cobra.Command{Use: "resend <key>", Short: "Give the customer new credentials and email them",
		Args: exactArgs(1, "a record key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.withProvisioner(cmd.Context()); err != nil {
				return err
			}
			if err := a.ops.Resend(cmd.Context(), args[0]); err != nil {
				return err
			}
			return a.print(map[string]string{"key": args[0], "credentials": "reset and emailed"}, func(t *table) {
				t.row(args[0], "new credentials emailed")
			})
		}}
}

func (a *app) replayCmd() *cobra.Command {
	var since string
	c := &cobra.Command{Use: "replay --since <RFC3339 time | stream sequence>",
		Short: "Publish stored Stripe events again so the worker re-drives them (idempotent)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since == "" {
				return usagef("replay needs --since")
			}
			s, err := ops.ParseSince(since)
			if err != nil {
				return &usageError{err}
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			n, err := o.Replay(cmd.Context(), s, func(n int) { fmt.Fprintf(a.errOut, "replayed %d events\n", n) })
			if perr := a.print(map[string]int{"replayed": n}, func(t *table) { t.row("replayed", n) }); err == nil {
				err = perr
			}
			return err
		}}
	c.Flags().StringVar(&since, "since", "", "an RFC 3339 time or a stream STRIPE sequence")
	return c
}

func (a *app) usageCmd() *cobra.Command {
	var from, to string
	c := &cobra.Command{Use: "usage <key> [--from T] [--to T]", Short: "connections of the record's account, at a provider that keeps them",
		Args: exactArgs(1, "a record key"),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			t, err := parseTime("to", to)
			if err != nil {
				return err
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			if o.UsageReaders, err = usageReaders(a.cfg, a.log); err != nil {
				return err
			}
			u, err := o.Usage(cmd.Context(), args[0], f, t)
			if err != nil {
				return err
			}
			return a.print(u, func(tb *table) {
				tb.row("START", "END", "BYTES IN", "BYTES OUT")
				for _, s := range u.Sessions {
					tb.row(s.Start, s.End, s.BytesIn, s.BytesOut)
				}
				tb.row("total", "", u.BytesIn, u.BytesOut)
			})
		}}
	c.Flags().StringVar(&from, "from", "", "start (RFC 3339 or date); default the beginning")
	c.Flags().StringVar(&to, "to", "", "end (RFC 3339 or date); default now")
	return c
}

func (a *app) reportCmd() *cobra.Command {
	var from, to, format, mode string
	c := &cobra.Command{Use: "report --from T --to T [--format table|csv|json] [--mode live|test]",
		Short: "Finance reconciliation from the audit trail; exit 3 if there are mismatches",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return usagef("report needs --from and --to")
			}
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			t, err := parseTime("to", to)
			if err != nil {
				return err
			}
			if !t.After(f) {
				return usagef("--to must be after --from")
			}
			if a.json {
				format = "json"
			}
			if format != "table" && format != "csv" && format != "json" {
				return usagef("--format %q: table, csv or json", format)
			}
			if mode != "" && mode != provisioning.ModeLive && mode != provisioning.ModeTest {
				return usagef("--mode %q: live or test", mode)
			}
			o, err := a.connect()
			if err != nil {
				return err
			}
			rep, err := o.Report(cmd.Context(), f, t)
			if err != nil {
				return err
			}
			if mode != "" {
				rep = rep.Only(mode)
			}
			if err := printReport(a.out, rep, format); err != nil {
				return err
			}
			if rep.Mismatches > 0 {
				fmt.Fprintf(a.errOut, "%d mismatches\n", rep.Mismatches)
				return errProblems
			}
			return nil
		}}
	c.Flags().StringVar(&from, "from", "", "start of the range, inclusive (RFC 3339 or date)")
	c.Flags().StringVar(&to, "to", "", "end of the range, exclusive (RFC 3339 or date)")
	c.Flags().StringVar(&format, "format", "table", "table, csv or json")
	c.Flags().StringVar(&mode, "mode", "", "only the payments and mismatches of one Stripe mode: live or test (default both, each row and total naming its mode)")
	return c
}
