package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/childproc"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

// durability is a JetStream durability mode of the nats-server.
type durability struct {
	// Name is the mode as the table shows it.
	Name string
	// Config is the nats-server configuration file's text ("": none).
	Config string
	// SyncAlways is what the server must report in /varz for the mode.
	SyncAlways bool
}

var (
	defaultDurability = durability{Name: "default"}
	syncAlways        = durability{Name: "sync always", Config: "jetstream {\n  sync_interval: always\n}\n", SyncAlways: true}
	durabilities      = []durability{defaultDurability, syncAlways}
)

// Accounts the simulators accept; the worker is given them as the README says.
const (
	pureUser, purePassword = "bench-reseller", "bench-Pa55word"
	vpnkiKey               = "bench-vpnki-key"
	mailFrom               = "VPN Shop <support@example.com>"
)

// planEmailPrice is the Stripe price of each plan of plansYAML.
var planEmailPrice = map[string]string{"std-monthly": "price_std_monthly", "tunnel-monthly": "price_tunnel_monthly"}

const plansYAML = `plans:
  - id: std-monthly
    name: Standard VPN, monthly
    stripe_prices: [price_std_monthly]
    provider: purevpn
    package_type: STANDARD
    period_days: 30
  - id: tunnel-monthly
    name: VPN tunnel, monthly
    stripe_prices: [price_tunnel_monthly]
    provider: vpnki
`

// stack is one nats-server with its own file store, the provider
// simulators and an SMTP listener in this process, and the webhook (and,
// when asked, the ingest ceiling and a worker) as processes.
type stack struct {
	b    *bench
	mode durability
	dir  string

	nats       *childproc.Process
	natsURL    string
	monitorURL string
	nc         *nats.Conn
	js         jetstream.JetStream

	pure     *purevpnsim.Sim
	pureURL  string
	vpnki    *vpnkisim.Sim
	vpnkiURL string // up to and including /index.php
	servers  []*http.Server
	mail     *mailcatcher.Catcher
	inbox    *inbox

	webhook, ceiling *ingestProc
	worker           *childproc.Process
	workerMetrics    string
}

// ingestProc is a process serving POST /stripe/webhook: the webhook or its ceiling.
type ingestProc struct {
	*childproc.Process
	url        string // the endpoint
	metricsURL string // its /metrics
}

// startStack starts a stack in mode; withCeiling adds the ingest ceiling.
func (b *bench) startStack(ctx context.Context, name string, mode durability, withCeiling bool) (_ *stack, err error) {
	s := &stack{b: b, mode: mode, dir: filepath.Join(b.dir, fmt.Sprintf("%02d-%s", b.nextStack(), name))}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	if err := s.startNATS(ctx); err != nil {
		return nil, err
	}
	s.pure = purevpnsim.New(purevpnsim.Options{User: pureUser, Password: purePassword})
	s.vpnki = vpnkisim.New(vpnkisim.Options{Key: vpnkiKey, Address: "vpn.example.net"})
	if s.pureURL, err = s.serve(s.pure); err != nil {
		return nil, err
	}
	if s.vpnkiURL, err = s.serve(s.vpnki); err != nil {
		return nil, err
	}
	s.vpnkiURL += "/index.php"
	s.inbox = newInbox()
	s.mail = mailcatcher.New(mailcatcher.Options{OnMessage: s.inbox.accepted})
	if err := s.mail.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.webhook, err = s.startIngest(ctx, "webhook", b.bins.Webhook); err != nil {
		return nil, err
	}
	if withCeiling {
		if s.ceiling, err = s.startIngest(ctx, "ceiling", b.bins.Self, "-ceiling-server"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startNATS runs nats-server with its file store in s.dir, in s.mode,
// declares vpnbill's topology and checks the server runs in that mode.
func (s *stack) startNATS(ctx context.Context) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	monitor, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	_, mport, _ := net.SplitHostPort(monitor)
	args := []string{"-a", "127.0.0.1", "-p", port, "-m", mport, "-js", "-sd", filepath.Join(s.dir, "store")}
	if s.mode.Config != "" {
		conf := filepath.Join(s.dir, "nats-server.conf")
		if err := os.WriteFile(conf, []byte(s.mode.Config), 0o600); err != nil {
			return err
		}
		args = append(args, "-c", conf)
	}
	if s.nats, err = startProc("nats-server", s.b.bins.NATSServer, args, nil, filepath.Join(s.dir, "nats-server.log")); err != nil {
		return err
	}
	s.natsURL, s.monitorURL = "nats://"+addr, "http://"+monitor
	if err := s.nats.WaitHTTP(ctx, s.monitorURL+"/healthz?js-enabled-only=true", 30*time.Second); err != nil {
		return err
	}
	var v varz
	if err := getJSON(ctx, s.monitorURL+"/varz", &v); err != nil {
		return err
	}
	if v.JetStream.Config.SyncAlways != s.mode.SyncAlways {
		return fmt.Errorf("nats-server runs with sync_always %v, want %v (mode %s)", v.JetStream.Config.SyncAlways, s.mode.SyncAlways, s.mode.Name)
	}
	if s.nc, err = nats.Connect(s.natsURL, nats.Name("vpnbench")); err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		return err
	}
	// The processes declare the same topology at start; declaring it first
	// makes the webhook ready at once.
	if _, err := events.Setup(ctx, s.js, events.Config{}); err != nil {
		return err
	}
	return nil
}

// serve serves h on a loopback port until the stack closes.
func (s *stack) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// startIngest starts the webhook (or the ceiling: the same variables) and
// waits until it answers.
func (s *stack) startIngest(ctx context.Context, name, path string, args ...string) (*ingestProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	maddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{
		"STRIPE_WEBHOOK_SECRET=" + s.b.secret,
		"NATS_URL=" + s.natsURL,
		"LOG_LEVEL=" + s.b.cfg.LogLevel,
		"WEBHOOK_ADDR=" + addr,
		"WEBHOOK_METRICS_ADDR=" + maddr,
	}
	p, err := startProc(name, path, args, env, filepath.Join(s.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	ip := &ingestProc{Process: p, url: "http://" + addr + "/stripe/webhook", metricsURL: "http://" + maddr + "/metrics"}
	if err := p.WaitHTTP(ctx, "http://"+addr+"/readyz", 30*time.Second); err != nil {
		_ = p.Stop(time.Second)
		return nil, err
	}
	return ip, nil
}

// startWorker starts cmd/worker at concurrency and returns when its
// metrics port answers: the moment it starts consuming, near enough.
func (s *stack) startWorker(ctx context.Context, concurrency int) (ready time.Time, err error) {
	maddr, err := freeAddr()
	if err != nil {
		return time.Time{}, err
	}
	env := []string{
		"NATS_URL=" + s.natsURL,
		"LOG_LEVEL=" + s.b.cfg.LogLevel,
		"PLANS_FILE=" + s.b.plansFile,
		"PUREVPN_API_URL=" + s.pureURL,
		"PUREVPN_API_USER=" + pureUser,
		"PUREVPN_API_PASSWORD=" + purePassword,
		"VPNKI_API_URL=" + s.vpnkiURL,
		"VPNKI_API_KEY=" + vpnkiKey,
		"SMTP_URL=" + s.mail.URL() + "?tls=none",
		"MAIL_FROM=" + mailFrom,
		"CREDENTIALS_KEY=" + s.b.credentialsKey,
		"STRIPE_MODE=test",
		"METRICS_ADDR=" + maddr,
		"WORKER_CONCURRENCY=" + strconv.Itoa(concurrency),
	}
	if s.worker, err = startProc("worker", s.b.bins.Worker, nil, env, filepath.Join(s.dir, fmt.Sprintf("worker-%d.log", concurrency))); err != nil {
		return time.Time{}, err
	}
	s.workerMetrics = "http://" + maddr + "/metrics"
	if err := s.worker.WaitHTTP(ctx, "http://"+maddr+"/healthz", 30*time.Second); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// stopWorker stops the worker and says whether it stopped cleanly.
func (s *stack) stopWorker() error {
	if s.worker == nil {
		return nil
	}
	err := s.worker.Stop(30 * time.Second)
	s.worker = nil
	return err
}

// close stops everything the stack started and removes its store (unless
// -keep); it returns the first unclean stop.
func (s *stack) close() error {
	var errs []error
	errs = append(errs, s.stopWorker())
	for _, p := range []*ingestProc{s.webhook, s.ceiling} {
		if p != nil {
			errs = append(errs, p.Stop(30*time.Second))
		}
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.nats != nil {
		errs = append(errs, s.nats.Stop(30*time.Second))
	}
	for _, srv := range s.servers {
		_ = srv.Close()
	}
	if s.mail != nil {
		_ = s.mail.Close()
	}
	if !s.b.cfg.Keep {
		_ = os.RemoveAll(filepath.Join(s.dir, "store"))
	}
	return errors.Join(errs...)
}

// varz is what a run reads of nats-server's /varz.
type varz struct {
	InMsgs    int64 `json:"in_msgs"`
	OutMsgs   int64 `json:"out_msgs"`
	JetStream struct {
		Config struct {
			SyncAlways bool `json:"sync_always"`
		} `json:"config"`
	} `json:"jetstream"`
}

func (s *stack) varz(ctx context.Context) (varz, error) {
	var v varz
	err := getJSON(ctx, s.monitorURL+"/varz", &v)
	return v, err
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// inbox records when the SMTP listener accepted the first email to each
// address it expects (every order has its own address).
type inbox struct {
	mu      sync.Mutex
	want    map[string]bool
	at      map[string]time.Time
	changed chan struct{} // closed and replaced on each expected email
}

func newInbox() *inbox {
	return &inbox{want: map[string]bool{}, at: map[string]time.Time{}, changed: make(chan struct{})}
}

// expect adds addresses whose first email is to be timed.
func (i *inbox) expect(to []string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, addr := range to {
		i.want[addr] = true
	}
}

// accepted is the mail catcher's OnMessage: it runs before the SMTP
// server answers the DATA command, so the time is the acceptance's.
func (i *inbox) accepted(r mailcatcher.Received) {
	now := time.Now()
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, to := range r.To {
		if _, seen := i.at[to]; !seen && i.want[to] {
			i.at[to] = now
			close(i.changed)
			i.changed = make(chan struct{})
		}
	}
}

// wait returns when every expected address has its email, with the time
// each was accepted, or fails when no new one came for stall.
func (i *inbox) wait(ctx context.Context, stall time.Duration) (map[string]time.Time, error) {
	progress, have := time.Now(), -1
	for {
		i.mu.Lock()
		got, want, changed := len(i.at), len(i.want), i.changed
		i.mu.Unlock()
		if got > have {
			progress, have = time.Now(), got
		}
		if got == want {
			break
		}
		wait := time.Until(progress.Add(stall))
		if wait <= 0 {
			return nil, fmt.Errorf("%d of %d emails, and no new one for %s", got, want, stall)
		}
		select {
		case <-changed:
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return maps.Clone(i.at), nil
}
