// Command demo runs all of vpnbill in one process, on loopback only: an
// embedded NATS JetStream server, the webhook, the worker, simulators of
// both provider APIs, and a mail catcher that keeps every email as an .eml
// file. It posts a signed sample checkout to its own webhook and prints what
// happened, then keeps serving so real Stripe test-mode events can be
// forwarded to it with `stripe listen`.
//
//	go run ./cmd/demo            # run, then keep serving
//	go run ./cmd/demo -once      # exit 0 once the sample is done, non-zero if it is not
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
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

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/embednats"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
	"github.com/vpnbill/vpnbill/internal/version"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// demoSecret signs the sample event. A secret from `stripe listen` can be
// added with STRIPE_WEBHOOK_SECRET; both are accepted.
const demoSecret = "whsec_vpnbillDemoSecret"

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
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	dataDir string
	addr    string
	once    bool
	verbose bool
	version bool
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

func run(ctx context.Context, args []string, w io.Writer) error {
	out := &lockedWriter{w: w}
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&o.dataDir, "data", "", "keep JetStream's store and the emails in `DIR` (default: a temporary directory, removed at exit)")
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "webhook listen `address` (loopback)")
	fs.BoolVar(&o.once, "once", false, "exit after the sample checkout: 0 if it completed, 1 if not")
	fs.BoolVar(&o.verbose, "v", false, "log at debug level")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(w, version.Get().Line("demo"))
		return nil
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

	secrets := []string{demoSecret}
	if s := os.Getenv("STRIPE_WEBHOOK_SECRET"); s != "" {
		secrets = append(secrets, billing.ParseSecrets(s)...)
	}
	verifier, err := billing.NewVerifier(secrets, 0)
	if err != nil {
		return err
	}
	plans, err := billing.ParseCatalog([]byte(demoPlans), registry.CheckPlan)
	if err != nil {
		return err
	}
	// With a Stripe API key, prices named only by id (checkouts without
	// metadata, basil+ invoice lines) are found by their lookup keys.
	var lineItems billing.LineItems
	if k := os.Getenv("STRIPE_API_KEY"); k != "" {
		if lineItems, err = billing.NewStripeLineItems(k, ""); err != nil {
			return err
		}
	}

	nc, js, err := ns.Connect("vpnbill-demo-webhook")
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := events.Setup(ctx, js, events.Config{}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("webhook: %w (is another demo running? try -addr 127.0.0.1:0)", err)
	}
	hookURL := "http://" + ln.Addr().String() + "/stripe/webhook"

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		errc <- ingest.Serve(runCtx, ingest.NewServer(o.addr, ingest.New(ingest.Config{}, verifier, nc, js, log.Named("webhook"))), ln, 10*time.Second)
	}()
	wnc, wjs, err := ns.Connect("vpnbill-demo-worker")
	if err != nil {
		return err
	}
	defer wnc.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	go func() {
		errc <- worker.Run(runCtx, wjs, worker.Config{
			Plans:          plans,
			LineItems:      lineItems,
			PureVPN:        purevpn.Config{URL: pureSrv.URL, User: pureUser, Password: purePass},
			VPNKI:          vpnki.Config{URL: vpnkiSrv.URL + "/index.php", Key: vpnkiKey},
			Mail:           notify.Config{URL: catcher.URL(), From: "VPN Shop <support@vpnshop.example>"},
			CredentialsKey: key,
		}, log.Named("worker"))
	}()

	fmt.Fprintf(out, "vpnbill demo: NATS %s, webhook %s, PureVPN simulator %s, VPNKI simulator %s, mail catcher %s\n",
		ns.ClientURL(), hookURL, pureSrv.URL, vpnkiSrv.URL, catcher.Addr())
	sampleErr := sample(ctx, out, hookURL, pureSim, catcher)
	if sampleErr != nil {
		fmt.Fprintln(out, "sample checkout did not complete:", sampleErr)
	}
	if o.once {
		cancel()
		waitAll(errc, log)
		return sampleErr
	}
	fmt.Fprintf(out, `
Serving until Ctrl-C. To forward real Stripe test-mode events here:

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
`, listenCommand(hookURL), ln.Addr(), strings.Join(billing.ReadableVersions, ", "), strings.Join(billing.HandledTypes, ", "), mailDir)
	select {
	case <-ctx.Done():
	case err := <-errc:
		cancel()
		return err
	}
	cancel()
	waitAll(errc, log)
	return nil
}

// listenCommand is the Stripe CLI command that forwards test-mode events
// of every type vpnbill handles to hookURL.
func listenCommand(hookURL string) string {
	return "stripe listen --events " + strings.Join(billing.HandledTypes, ",") + " --forward-to " + hookURL
}

// sample posts a signed checkout to the webhook and waits for its email.
func sample(ctx context.Context, out io.Writer, hookURL string, sim *purevpnsim.Sim, catcher *mailcatcher.Catcher) error {
	evID := stripetest.ID("evt")
	payload := stripetest.CheckoutCompleted(evID, time.Now(), stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: "ada@example.com", Name: "Ada Lovelace",
		Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	})
	fmt.Fprintf(out, "\n→ posting a signed checkout.session.completed (%s) for ada@example.com, plan std-monthly\n", evID)
	client := &http.Client{Timeout: 15 * time.Second}
	resp, err := stripetest.Post(client, hookURL, payload, demoSecret)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Fprintf(out, "← webhook answered %d %s", resp.StatusCode, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := catcher.WaitFor(wctx, 1); err != nil {
		return fmt.Errorf("no welcome email within 30s: %w", err)
	}
	accounts := sim.Accounts()
	if len(accounts) != 1 {
		return fmt.Errorf("%d accounts at the PureVPN simulator, want 1", len(accounts))
	}
	a := accounts[0]
	fmt.Fprintf(out, "\n✓ PureVPN simulator holds account %s (%s, enabled %v, expires %s)\n", a.Username, a.PackageType, a.Enabled, a.Expiry.Format(time.DateOnly))
	return nil
}

func waitAll(errc chan error, log *zap.Logger) {
	for range 2 {
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
