// Command demo runs all of vpnbill in one process, on loopback only: an
// embedded NATS JetStream server, the webhook with its checkout links, the
// worker, the operators' console, the customer page, simulators of both
// provider APIs, and a mail catcher that keeps every email as an .eml file.
// It posts what Stripe sends for a sample purchase (the checkout and the
// first invoice.paid, signed) to its own webhook and prints what happened.
// Then it keeps serving and prints the console's address and a login, the
// sample's customer page link, a checkout link, and how to point vpnbillctl
// at it (an environment file it writes); real Stripe test-mode events can
// be forwarded to it with `stripe listen`.
//
// The checkout link uses the Stripe API in test mode with STRIPE_API_KEY;
// without it, stripe-mock (Stripe's API mock, a tool go.mod pins) is
// started in the background, so the sample does not wait for it.
//
//	go run ./cmd/demo            # run, then keep serving
//	go run ./cmd/demo -once      # exit 0 once the sample is done, non-zero if it is not
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/assemble"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/embednats"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/stripemock"
	"github.com/vpnbill/vpnbill/internal/version"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// demoSecret signs the sample event. A secret from `stripe listen` can be
// added with STRIPE_WEBHOOK_SECRET; both are accepted.
const demoSecret = "whsec_vpnbillDemoSecret"

// mockAPIKey is the key the checkout links give stripe-mock, which takes
// any test-mode key.
const mockAPIKey = "sk_test_vpnbillDemo"

const demoPlans = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
  - id: tunnel-monthly
    name: VPN tunnel, monthly
    stripe_prices: [tunnel_monthly]
    provider: vpnki
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dataDir    string
	addr       string
	adminAddr  string
	portalAddr string
	once       bool
	verbose    bool
	version    bool
}

// lockedWriter lets the mail catcher's goroutine and the main one print.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run runs the demo with the command line args, reading STRIPE_API_KEY and
// STRIPE_WEBHOOK_SECRET with getenv, and prints to w.
func run(ctx context.Context, args []string, getenv func(string) string, w io.Writer) error {
	out := &lockedWriter{w: w}
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "data", "", "keep JetStream's store, the emails, the plans and vpnbillctl's environment in `DIR` (default: a temporary directory, removed at exit)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "webhook and checkout links listen `address` (loopback)")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:8090", "operators' console listen `address` (loopback)")
	fs.StringVar(&o.portalAddr, "portal-addr", "127.0.0.1:8091", "customer page listen `address` (loopback)")
	fs.BoolVar(&o.once, "once", false, "exit after the sample purchase: 0 if it completed, 1 if not")
	fs.BoolVar(&o.verbose, "v", false, "log at debug level")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil // the usage is printed
	} else if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(w, version.Get().Line("demo"))
		return nil
	}
	stripeKey := getenv("STRIPE_API_KEY")
	if err := checkTestMode(stripeKey); err != nil {
		return err
	}
	if o.dataDir == "" {
		dir, err := os.MkdirTemp("", "vpnbill-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.dataDir = dir
	}
	log := newLogger(o.verbose)
	defer func() { _ = log.Sync() }()

	// Every listener first: a port that is taken stops the demo at once,
	// naming the flag that moves it.
	hookLn, err := listen("webhook", "-addr", o.addr)
	if err != nil {
		return err
	}
	defer hookLn.Close()
	adminLn, err := listen("console", "-admin-addr", o.adminAddr)
	if err != nil {
		return err
	}
	defer adminLn.Close()
	portalLn, err := listen("customer page", "-portal-addr", o.portalAddr)
	if err != nil {
		return err
	}
	defer portalLn.Close()
	for _, ln := range []net.Listener{hookLn, adminLn, portalLn} {
		if !ln.Addr().(*net.TCPAddr).IP.IsLoopback() {
			log.Warn("listening beyond loopback: the demo's keys and login are printed; keep it off networks you do not trust", zap.String("addr", ln.Addr().String()))
		}
	}
	hookBase := "http://" + hookLn.Addr().String()
	hookURL := hookBase + "/stripe/webhook"
	adminURL := "http://" + adminLn.Addr().String() + "/"
	portalURL := "http://" + portalLn.Addr().String() + "/account"

	ns, err := embednats.Start(embednats.Options{StoreDir: filepath.Join(o.dataDir, "jetstream")})
	if err != nil {
		return err
	}
	defer ns.Stop()

	// The provider simulators: the worker talks HTTP to them as to the real APIs.
	pureUser, purePass := "demo-reseller", randomText(16)
	pureSim := purevpnsim.New(purevpnsim.Options{User: pureUser, Password: purePass})
	pureSrv := httptest.NewServer(pureSim)
	defer pureSrv.Close()
	vpnkiKey := randomText(24)
	vpnkiSrv := httptest.NewServer(vpnkisim.New(vpnkisim.Options{Key: vpnkiKey, Address: "vpn.vpnki.example"}))
	defer vpnkiSrv.Close()

	mailDir := filepath.Join(o.dataDir, "mail")
	catcher := mailcatcher.New(mailcatcher.Options{Dir: mailDir, Logger: log.Named("mailcatcher"), OnMessage: func(m mailcatcher.Received) {
		fmt.Fprintf(out, "\n── email to %s: %q (%s)\n%s\n── saved as %s\n", strings.Join(m.To, ", "), m.Subject, m.MessageID, strings.TrimSpace(m.Text), m.Path)
	}})
	if err := catcher.Start("127.0.0.1:0"); err != nil {
		return err
	}
	defer catcher.Close()

	// The demo's configuration, as the operator's variables: the demo runs
	// with what it writes for vpnbillctl (and with the Stripe API key of
	// its own environment, if any, which it does not write).
	plansPath := filepath.Join(o.dataDir, "plans.yaml")
	if err := os.WriteFile(plansPath, []byte(demoPlans), 0o600); err != nil {
		return err
	}
	env := environment{
		{"NATS_URL", ns.ClientURL()},
		{"PLANS_FILE", plansPath},
		{"PUREVPN_API_URL", pureSrv.URL}, {"PUREVPN_API_USER", pureUser}, {"PUREVPN_API_PASSWORD", purePass},
		{"VPNKI_API_URL", vpnkiSrv.URL + "/index.php"}, {"VPNKI_API_KEY", vpnkiKey},
		{"SMTP_URL", catcher.URL()}, {"MAIL_FROM", "VPN Shop <support@vpnshop.example>"},
		{"CREDENTIALS_KEY", randomKey()},
		{"STRIPE_MODE", "test"},
		{"PORTAL_URL", portalURL}, {"PORTAL_KEY", randomKey()},
	}
	cfg, err := envconfig.LoadCtlFrom(append(env.list(), "STRIPE_API_KEY="+stripeKey))
	if err != nil {
		return err
	}
	envPath := filepath.Join(o.dataDir, envFileName)
	if err := writeEnvFile(envPath, env, []string{
		"The environment that points vpnbillctl at the vpnbill demo (go run ./cmd/demo) started",
		time.Now().Format(time.RFC3339) + ": its NATS server, plans, provider simulators, mail catcher and keys.",
		"It holds secrets. It works while that demo runs. In a shell, in the repository:",
		"",
		"  set -a; . " + shellWord(envPath) + "; set +a",
		"  go run ./cmd/vpnbillctl accounts show " + sampleEmail,
	}); err != nil {
		return err
	}
	links, err := worker.PortalLinks(cfg.Portal)
	if err != nil {
		return err
	}
	wc, err := workerConfig(cfg, links.Link)
	if err != nil {
		return err
	}

	secrets := []string{demoSecret}
	if s := getenv("STRIPE_WEBHOOK_SECRET"); s != "" {
		secrets = append(secrets, billing.ParseSecrets(s)...)
	}
	verifier, err := billing.NewVerifier(secrets, 0)
	if err != nil {
		return err
	}
	nc, js, err := ns.Connect("vpnbill-demo-webhook")
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := events.Setup(ctx, js, events.Config{}); err != nil {
		return err
	}
	newHook := func(c *ingest.Checkout) *ingest.Handler {
		return ingest.New(ingest.Config{Checkout: c}, verifier, nc, js, log.Named("webhook"))
	}
	hook := &webhook{}
	hook.h.Store(newHook(nil))
	checkoutLine := "follows below once stripe-mock (Stripe's API mock) has started"
	if stripeKey != "" {
		c, err := newCheckout(wc.Plans, stripeKey, "", portalURL, log)
		if err != nil {
			return err
		}
		hook.h.Store(newHook(c))
		checkoutLine = hookBase + "/buy/" + samplePlan + " (or /buy/tunnel-monthly): Stripe's test-mode Checkout, with STRIPE_API_KEY;\n" +
			"                    your test account needs prices with lookup keys std_monthly and tunnel_monthly"
	}

	// The operators' console and the customer page, as cmd/console serves
	// them, over a connection of their own.
	onc, ojs, err := ns.Connect("vpnbill-demo-console")
	if err != nil {
		return err
	}
	defer onc.Close()
	password, users, err := operatorLogin()
	if err != nil {
		return err
	}
	con, svc, err := newConsole(ctx, ojs, cfg, users, log)
	if err != nil {
		return err
	}
	defer con.Close() // after its server stopped: a reconcile in the background ends
	// No proxy in front of the page: its rate limits key on the
	// connection's address (no client IP header).
	page, err := assemble.CustomerPage(ojs, cfg, "", svc, log)
	if err != nil {
		return err
	}
	defer page.Close()

	wnc, wjs, err := ns.Connect("vpnbill-demo-worker")
	if err != nil {
		return err
	}
	defer wnc.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	const parts = 4 // the webhook, the worker, the console, the customer page
	errc := make(chan error, parts)
	go func() { errc <- ingest.Serve(runCtx, ingest.NewServer(o.addr, hook), hookLn, 10*time.Second) }()
	go func() { errc <- worker.Run(runCtx, wjs, wc, log.Named("worker")) }()
	go func() { errc <- ingest.Serve(runCtx, newServer(con), adminLn, 10*time.Second) }()
	go func() { errc <- ingest.Serve(runCtx, newServer(page), portalLn, 10*time.Second) }()
	stop := func() {
		cancel()
		waitAll(errc, parts, log)
	}

	// stripe-mock starts in the background: the sample does not wait for it.
	served := make(chan struct{}) // closed once the serving instructions are printed
	mockDone := make(chan struct{})
	if stripeKey == "" && !o.once {
		go func() {
			defer close(mockDone)
			checkoutByMock(runCtx, out, served, func(c *ingest.Checkout) { hook.h.Store(newHook(c)) }, wc.Plans, hookBase, portalURL, log)
		}()
	} else {
		close(mockDone)
	}
	defer func() { cancel(); <-mockDone }() // stripe-mock ends with the demo

	fmt.Fprintf(out, "vpnbill demo: NATS %s, webhook %s, PureVPN simulator %s, VPNKI simulator %s, mail catcher %s, console %s, customer page %s\n",
		ns.ClientURL(), hookURL, pureSrv.URL, vpnkiSrv.URL, catcher.Addr(), adminURL, portalURL)
	order, sampleErr := sample(ctx, out, hookURL, pureSim, catcher, &ops.Ops{JS: ojs, Log: log.Named("ops")})
	if sampleErr != nil {
		fmt.Fprintln(out, "sample purchase did not complete:", sampleErr)
	}
	if o.once {
		stop()
		return sampleErr
	}
	pageLine := "none: the sample did not complete (the page offers a link by email: " + portalURL + ")"
	if sampleErr == nil {
		pageLine = links.Link(order.key, time.Now()) + "\n                    the sample order's page (" + sampleEmail + ", account " + order.username + "); its emails link there too"
	}
	reportDay := order.at.UTC()
	fmt.Fprintf(out, `
Serving until Ctrl-C:

  operator console  %s
                    sign in as %s with password %s (role operator; a new password each run)
  customer page     %s
  checkout link     %s
  webhook           %s

vpnbillctl works against this demo with the environment in %s (mode 0600: it holds
the demo's keys and passwords). In another shell, in this repository:

  set -a; . %s; set +a
  go run ./cmd/vpnbillctl report --from %s --to %s
  go run ./cmd/vpnbillctl reconcile
  go run ./cmd/vpnbillctl accounts show %s

To forward real Stripe test-mode events here:

  %s
  # then restart the demo accepting the Stripe CLI's signing secret:
  STRIPE_WEBHOOK_SECRET=$(stripe listen --print-secret) go run ./cmd/demo -addr %s

Stripe sends each event in your account's default API version. vpnbill reads these families
and their later versions: %s.
If your account's default is older, add --latest (Stripe's newest version) to stripe listen.
Events of these types are acted on: %s
Checkout sessions need metadata plan=std-monthly (PureVPN) or plan=tunnel-monthly (VPNKI). Prices
with lookup key std_monthly or tunnel_monthly are recognized too; set STRIPE_API_KEY (a test-mode
key) for checkouts without that metadata and for invoices of API version basil and later, which
name their price by id only.
Emails are kept in %s.
`, adminURL, demoOperator, password, pageLine, checkoutLine, hookURL, envPath, shellWord(envPath),
		reportDay.Format(time.DateOnly), reportDay.AddDate(0, 0, 1).Format(time.DateOnly), sampleEmail,
		listenCommand(hookURL), hookLn.Addr(), strings.Join(billing.ReadableVersions, ", "), strings.Join(billing.HandledTypes, ", "), mailDir)
	close(served)
	select {
	case <-ctx.Done():
	case err := <-errc:
		cancel()
		waitAll(errc, parts-1, log)
		return err
	}
	stop()
	return nil
}

// checkTestMode refuses a Stripe API key of live mode: the demo serves
// Stripe's test mode (STRIPE_MODE=test), by the worker's rule.
func checkTestMode(stripeKey string) error {
	cfg, err := envconfig.LoadCtlFrom([]string{"STRIPE_MODE=test", "STRIPE_API_KEY=" + stripeKey})
	if err == nil {
		_, _, err = cfg.Livemode()
	}
	if err != nil {
		return fmt.Errorf("the demo serves Stripe's test mode: %w", err)
	}
	return nil
}

// workerConfig is the worker's configuration from the variables, as
// cmd/worker reads them, with the customer page's link in every email.
func workerConfig(cfg envconfig.Ctl, portalLink func(string, time.Time) string) (worker.Config, error) {
	plans, err := billing.LoadCatalog(cfg.PlansFile, registry.CheckPlan)
	if err != nil {
		return worker.Config{}, err
	}
	key, err := provisioning.ParseKey(cfg.CredentialsKey)
	if err != nil {
		return worker.Config{}, fmt.Errorf("CREDENTIALS_KEY: %w", err)
	}
	pc, vc, err := cfg.ClientConfigs()
	if err != nil {
		return worker.Config{}, err
	}
	templates, err := worker.Templates(cfg.Mail)
	if err != nil {
		return worker.Config{}, err
	}
	live, _, err := cfg.Livemode()
	if err != nil {
		return worker.Config{}, err
	}
	// With a Stripe API key, prices named only by id (checkouts without
	// metadata, basil+ invoice lines) are found by their lookup keys.
	var lineItems billing.LineItems
	if cfg.StripeAPIKey != "" {
		if lineItems, err = billing.NewStripeLineItems(cfg.StripeAPIKey, ""); err != nil {
			return worker.Config{}, err
		}
	}
	return worker.Config{
		Provisioning: provisioning.Config{GracePeriod: &cfg.GracePeriod, DeleteAfter: &cfg.DeleteAfter, Templates: templates,
			PortalLink: portalLink},
		Plans:          plans,
		LineItems:      lineItems,
		PureVPN:        pc,
		VPNKI:          vc,
		Mail:           notify.Config{URL: cfg.SMTPURL, From: cfg.MailFrom},
		CredentialsKey: key,
		Livemode:       &live,
	}, nil
}

// checkoutByMock starts stripe-mock, gives the webhook its checkout links
// over it (setCheckout) and, once the serving instructions are printed
// (served), prints the link. It keeps stripe-mock running until ctx ends.
// If stripe-mock cannot be had, it says so in one line: the rest of the
// demo does not need it.
func checkoutByMock(ctx context.Context, out io.Writer, served <-chan struct{}, setCheckout func(*ingest.Checkout),
	plans *billing.Catalog, hookBase, landing string, log *zap.Logger) {
	say := func(format string, a ...any) {
		select {
		case <-served:
			fmt.Fprintf(out, format, a...)
		case <-ctx.Done():
		}
	}
	apiURL, stopMock, err := stripemock.Start(ctx)
	if err != nil {
		if ctx.Err() == nil {
			say("\n✗ no checkout link: stripe-mock could not be started (%s); everything else works without it\n", firstLine(err.Error()))
		}
		return
	}
	defer stopMock()
	c, err := newCheckout(plans, mockAPIKey, apiURL, landing, log)
	if err != nil {
		say("\n✗ no checkout link: %s\n", firstLine(err.Error()))
		return
	}
	setCheckout(c)
	say("\n✓ checkout link: %s/buy/%s (or /buy/tunnel-monthly) answers 303 to the Checkout Session's URL.\n"+
		"  Without STRIPE_API_KEY that session is stripe-mock's (Stripe's API mock, at %s): a mock URL with no page\n"+
		"  behind it. With STRIPE_API_KEY set to a test-mode key, the link opens Stripe's own test-mode Checkout.\n",
		hookBase, samplePlan, apiURL)
	<-ctx.Done()
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// listenCommand is the Stripe CLI command that forwards test-mode events
// of every type vpnbill handles to hookURL.
func listenCommand(hookURL string) string {
	return "stripe listen --events " + strings.Join(billing.HandledTypes, ",") + " --forward-to " + hookURL
}

// waitAll waits for n parts to stop, logging an error other than a
// cancellation.
func waitAll(errc chan error, n int, log *zap.Logger) {
	for range n {
		if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("stopped with error", zap.Error(err))
		}
	}
}

func newLogger(verbose bool) *zap.Logger {
	cfg := zap.NewDevelopmentEncoderConfig()
	cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	level := zap.InfoLevel
	if verbose {
		level = zap.DebugLevel
	}
	return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(cfg), zapcore.Lock(os.Stderr), level))
}

func randomText(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// randomKey is base64 of 32 random bytes, as CREDENTIALS_KEY and
// PORTAL_KEY are given.
func randomKey() string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return base64.StdEncoding.EncodeToString(key)
}
