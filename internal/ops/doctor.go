package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stripe/stripe-go/v76"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// CheckStatus is the outcome of one of doctor's checks.
type CheckStatus string

// The outcomes. Only CheckAttention makes `doctor` exit 3.
const (
	CheckOK        CheckStatus = "ok"
	CheckAttention CheckStatus = "attention" // something is wrong; Fix says how to fix it
	CheckUnknown   CheckStatus = "unknown"   // could not be told from here; Fix says how to check
	CheckSkipped   CheckStatus = "skipped"   // not configured here, or it needs a check that failed
)

// Check is one of doctor's findings.
type Check struct {
	Name   string      `json:"check"`
	Status CheckStatus `json:"status"`
	Detail string      `json:"detail"`
	Fix    string      `json:"fix,omitempty"`
}

// SMTPChecker opens an SMTP session without sending (*notify.Mailer). Its
// error is a *notify.CheckError naming the step that failed.
type SMTPChecker interface {
	Check(ctx context.Context) (notify.Checked, error)
}

// ProviderProbe is what doctor asks of a provider's adapter: its
// capabilities, and read-only calls. Both are idempotent and honour ctx;
// an error is the provider's (a *providers.Error).
type ProviderProbe interface {
	Capabilities() providers.Capabilities
	// Lookup reads one account; a missing one is Exists=false, no error.
	Lookup(ctx context.Context, username string) (provisioning.Remote, error)
	// List returns every account (Capabilities.List).
	List(ctx context.Context) ([]provisioning.Remote, error)
}

// Doctor checks a deployment end to end: NATS and JetStream, SMTP, the
// providers, Stripe, the webhook secret, the plans file and the clock.
// Every part is optional but NATS: one not configured is skipped.
type Doctor struct {
	// NATSURL is NATS_URL. Required.
	NATSURL string
	// Replicas is NATS_REPLICAS: what every stream, the bucket and the
	// consumers should have. Default 1.
	Replicas int
	// Monitor lists NATS monitoring addresses (http://host:8222), whose
	// /varz tells each server's JetStream sync setting. None: the system
	// account's $SYS.REQ.SERVER.PING.VARZ, if the NATS user is allowed it;
	// otherwise the setting is unknown.
	Monitor []string
	// Mailer checks SMTP (SMTP_URL, MAIL_FROM); nil: not configured, or
	// MailerErr says why it could not be made.
	Mailer    SMTPChecker
	MailerErr error
	// Providers are the configured providers' adapters; none: none
	// configured, or ProvidersErr says why they could not be made.
	Providers    map[providers.Name]ProviderProbe
	ProvidersErr error
	// Stripe calls the Stripe API with STRIPE_API_KEY; nil: no key.
	Stripe *StripeAPI
	// StripeMode is the mode STRIPE_MODE and STRIPE_API_KEY configure, live
	// or test; empty: auto (the first event's, pinned). ModeErr is the
	// error the worker would stop with instead.
	StripeMode string
	ModeErr    error
	// StripeURL is STRIPE_API_URL; empty: Stripe's. The clock is compared
	// with the Date of its answer.
	StripeURL string
	// WebhookSecrets is STRIPE_WEBHOOK_SECRET as set; empty: not set here.
	WebhookSecrets string
	// Plans are the plans file's; nil: PLANS_FILE not set, or PlansErr
	// says why it could not be read.
	Plans    []billing.Plan
	PlansErr error
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Timeout bounds each check. Default 10s.
	Timeout time.Duration
}

// MaxClockSkew is how far the local clock may be from Stripe's before
// doctor calls for attention: well inside the webhook's signature
// tolerance (billing.DefaultTolerance), and what NTP keeps far smaller.
const MaxClockSkew = 30 * time.Second

// The streams doctor looks at, in order, besides the bucket's.
var doctorStreams = []string{events.StreamStripe, events.StreamAudit, events.StreamDead, events.StreamTimers, events.StreamAuditLate}

// Run runs every check, in order, and returns their findings. It never
// fails: what cannot be checked is a finding.
func (d Doctor) Run(ctx context.Context) []Check {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Replicas <= 0 {
		d.Replicas = 1
	}
	var out []Check
	out = append(out, d.natsChecks(ctx)...)
	out = append(out, d.smtpCheck(ctx))
	out = append(out, d.providerChecks(ctx)...)
	out = append(out, d.modeCheck())
	stripeChecks, keyOK := d.stripeChecks(ctx)
	out = append(out, stripeChecks...)
	out = append(out, d.secretCheck())
	out = append(out, d.plansCheck(ctx, keyOK))
	out = append(out, d.clockCheck(ctx))
	return out
}

// Attention counts the findings that need attention.
func Attention(checks []Check) int {
	n := 0
	for _, c := range checks {
		if c.Status == CheckAttention {
			n++
		}
	}
	return n
}

func (d Doctor) within(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.Timeout)
}

// natsChecks: the connection, JetStream, the streams, the bucket, the
// consumers and the sync setting.
func (d Doctor) natsChecks(ctx context.Context) []Check {
	nc, err := nats.Connect(d.NATSURL, nats.Name("vpnbillctl doctor"), nats.Timeout(d.Timeout), nats.NoReconnect())
	if err != nil {
		out := []Check{{Name: "nats", Status: CheckAttention, Detail: "cannot connect: " + err.Error(),
			Fix: "check NATS_URL and that nats-server runs and this machine may reach it (port 4222)"}}
		for _, name := range []string{"jetstream", "streams, bucket, consumers", "jetstream sync"} {
			out = append(out, Check{Name: name, Status: CheckSkipped, Detail: "NATS unreachable"})
		}
		return out
	}
	defer nc.Close()
	cluster := nc.ConnectedClusterName()
	detail := fmt.Sprintf("connected to %s, server %s (nats-server %s)", nc.ConnectedUrlRedacted(), nc.ConnectedServerName(), nc.ConnectedServerVersion())
	c := Check{Name: "nats", Status: CheckOK, Detail: detail + ", cluster " + orNone(cluster)}
	if d.Replicas > 1 && cluster == "" {
		c.Status, c.Fix = CheckAttention, fmt.Sprintf("NATS_REPLICAS is %d but the server is not clustered: point NATS_URL at the cluster (deploy/nats), or set NATS_REPLICAS=1", d.Replicas)
	}
	out := []Check{c}

	js, err := jetstream.New(nc)
	if err == nil {
		cctx, cancel := d.within(ctx)
		var info *jetstream.AccountInfo
		info, err = js.AccountInfo(cctx)
		cancel()
		if err == nil {
			out = append(out, Check{Name: "jetstream", Status: CheckOK,
				Detail: fmt.Sprintf("%d streams, %d consumers, %d bytes stored", info.Streams, info.Consumers, info.Store)})
		}
	}
	if err != nil {
		out = append(out, Check{Name: "jetstream", Status: CheckAttention, Detail: err.Error(),
			Fix: "enable JetStream on the server (a jetstream block in its config) and for this NATS user's account"},
			Check{Name: "streams, bucket, consumers", Status: CheckSkipped, Detail: "JetStream unavailable"})
		return append(out, d.syncCheck(ctx, nc))
	}
	for _, name := range doctorStreams {
		out = append(out, d.streamCheck(ctx, js, name, "stream "+name))
	}
	out = append(out, d.streamCheck(ctx, js, "KV_"+events.BucketAccounts, "bucket "+events.BucketAccounts))
	out = append(out, d.consumerCheck(ctx, js, events.StreamStripe, events.ConsumerWorker))
	out = append(out, d.consumerCheck(ctx, js, events.StreamTimers, events.ConsumerTimers))
	return append(out, d.syncCheck(ctx, nc))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

const declareFix = "start a webhook or worker against this NATS_URL: each declares the streams, the bucket and (the worker) the consumers at start"

func (d Doctor) replicasFix(what string) string {
	return fmt.Sprintf("restart a worker with NATS_REPLICAS=%d: it updates every stream, the bucket and the consumers (or `nats %s --replicas %d`)",
		d.Replicas, what, d.Replicas)
}

func (d Doctor) streamCheck(ctx context.Context, js jetstream.JetStream, stream, name string) Check {
	cctx, cancel := d.within(ctx)
	defer cancel()
	s, err := js.Stream(cctx, stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && stream == events.StreamAuditLate:
		return Check{Name: name, Status: CheckSkipped, Detail: "not present: declared by this release's processes at start, and kept by the finance report"}
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return Check{Name: name, Status: CheckAttention, Detail: "missing", Fix: declareFix}
	case err != nil:
		return Check{Name: name, Status: CheckAttention, Detail: err.Error(), Fix: "check that JetStream answers (the stream's leader may be down)"}
	}
	info := s.CachedInfo()
	c := Check{Name: name, Status: CheckOK,
		Detail: fmt.Sprintf("R%d, %s storage, %d messages%s", info.Config.Replicas, strings.ToLower(info.Config.Storage.String()),
			info.State.Msgs, clusterDetail(info.Cluster))}
	var fixes []string
	if info.Config.Replicas != d.Replicas {
		c.Detail += fmt.Sprintf("; NATS_REPLICAS is %d", d.Replicas)
		fixes = append(fixes, d.replicasFix("stream edit "+stream))
	}
	if info.Config.Storage != jetstream.FileStorage {
		fixes = append(fixes, "the stream is kept in memory and lost when NATS restarts: back it up, delete it, and let a worker declare it again (file storage)")
	}
	fixes = append(fixes, clusterFixes(info.Cluster)...)
	if len(fixes) > 0 {
		c.Status, c.Fix = CheckAttention, strings.Join(fixes, "; ")
	}
	return c
}

func (d Doctor) consumerCheck(ctx context.Context, js jetstream.JetStream, stream, consumer string) Check {
	name := fmt.Sprintf("consumer %s on %s", consumer, stream)
	cctx, cancel := d.within(ctx)
	defer cancel()
	s, err := js.Stream(cctx, stream)
	if err != nil {
		return Check{Name: name, Status: CheckSkipped, Detail: "stream " + stream + " unavailable"}
	}
	cons, err := s.Consumer(cctx, consumer)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return Check{Name: name, Status: CheckAttention, Detail: "missing", Fix: "start a worker: it declares the consumer at start"}
	case err != nil:
		return Check{Name: name, Status: CheckAttention, Detail: err.Error(), Fix: "check that JetStream answers (the consumer's leader may be down)"}
	}
	info := cons.CachedInfo()
	replicas := info.Config.Replicas
	if replicas == 0 { // the stream's
		replicas = s.CachedInfo().Config.Replicas
	}
	c := Check{Name: name, Status: CheckOK, Detail: fmt.Sprintf("R%d, %d pending, %d in flight, %d redelivered%s",
		replicas, info.NumPending, info.NumAckPending, info.NumRedelivered, clusterDetail(info.Cluster))}
	var fixes []string
	if replicas != d.Replicas {
		c.Detail += fmt.Sprintf("; NATS_REPLICAS is %d", d.Replicas)
		fixes = append(fixes, d.replicasFix("consumer edit "+stream+" "+consumer))
	}
	fixes = append(fixes, clusterFixes(info.Cluster)...)
	if len(fixes) > 0 {
		c.Status, c.Fix = CheckAttention, strings.Join(fixes, "; ")
	}
	return c
}

// clusterDetail is ", leader n1, replicas n2 (current), n3 (current)", or
// "" on a single server.
func clusterDetail(ci *jetstream.ClusterInfo) string {
	if ci == nil || ci.Name == "" { // a single server
		return ""
	}
	s := ", leader " + orNone(ci.Leader)
	var rs []string
	for _, r := range ci.Replicas {
		state := "current"
		switch {
		case r.Offline:
			state = "offline"
		case !r.Current:
			state = fmt.Sprintf("behind by %d", r.Lag)
		}
		rs = append(rs, fmt.Sprintf("%s (%s)", r.Name, state))
	}
	if len(rs) > 0 {
		s += ", replicas " + strings.Join(rs, ", ")
	}
	return s
}

// clusterFixes are what a clustered asset lacks: a leader, replicas that
// are up and current.
func clusterFixes(ci *jetstream.ClusterInfo) []string {
	if ci == nil || ci.Name == "" {
		return nil
	}
	var fixes []string
	if ci.Leader == "" {
		fixes = append(fixes, "no leader: a majority of its servers is down or cut off; bring them back")
	}
	for _, r := range ci.Replicas {
		if r.Offline || !r.Current {
			fixes = append(fixes, fmt.Sprintf("replica on %s is not current: check that server (`nats server ls`)", r.Name))
		}
	}
	return fixes
}

// varz is the part of a NATS server's /varz that tells its sync setting.
type varz struct {
	ServerName string `json:"server_name"`
	JetStream  struct {
		Config *struct {
			SyncInterval time.Duration `json:"sync_interval"`
			SyncAlways   bool          `json:"sync_always"`
		} `json:"config"`
	} `json:"jetstream"`
}

const syncHowTo = "the setting is each server's configuration, which a NATS user outside the system account cannot read: " +
	"run doctor with --nats-monitor http://<node>:8222 for every node (deploy/nats's nodes serve it on 127.0.0.1:8222: run it there, " +
	"or `curl -s http://127.0.0.1:8222/varz | grep sync_` on each node); want sync_always true (`sync_interval: always`)"

// syncCheck reads each server's JetStream sync setting: from the monitoring
// addresses given, else from the system account's varz ping.
func (d Doctor) syncCheck(ctx context.Context, nc *nats.Conn) Check {
	c := Check{Name: "jetstream sync"}
	var servers []varz
	var errs []string
	if len(d.Monitor) > 0 {
		for _, m := range d.Monitor {
			v, err := d.monitorVarz(ctx, m)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", m, err))
				continue
			}
			servers = append(servers, v)
		}
	} else {
		servers = d.sysVarz(ctx, nc)
	}
	if len(servers) == 0 {
		c.Status, c.Detail, c.Fix = CheckUnknown, "unknown", syncHowTo
		if len(errs) > 0 {
			c.Status, c.Detail, c.Fix = CheckAttention, strings.Join(errs, "; "), "check the --nats-monitor addresses (each node's `http:` setting)"
		}
		return c
	}
	var parts, weak []string
	for _, v := range servers {
		switch cfg := v.JetStream.Config; {
		case cfg == nil:
			parts = append(parts, v.ServerName+": JetStream off")
			weak = append(weak, v.ServerName)
		case cfg.SyncAlways:
			parts = append(parts, v.ServerName+": always")
		default:
			parts = append(parts, fmt.Sprintf("%s: every %s", v.ServerName, cfg.SyncInterval))
			weak = append(weak, v.ServerName)
		}
	}
	c.Status, c.Detail = CheckOK, strings.Join(append(parts, errs...), "; ")
	switch {
	case len(weak) > 0:
		c.Status = CheckAttention
		c.Fix = "set `sync_interval: always` in the jetstream block of " + strings.Join(weak, ", ") +
			" and restart them one at a time: otherwise writes acknowledged since the last sync are lost when every node loses power at once (README, Production)"
	case len(errs) > 0:
		c.Status, c.Fix = CheckAttention, "check the --nats-monitor addresses that did not answer"
	}
	return c
}

func (d Doctor) monitorVarz(ctx context.Context, base string) (varz, error) {
	var v varz
	cctx, cancel := d.within(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/varz", nil)
	if err != nil {
		return v, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /varz: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("GET /varz: %w", err)
	}
	return v, nil
}

// sysVarz asks every server for its varz through the system account; it
// returns none when the user may not (no responders) or none answer soon.
func (d Doctor) sysVarz(ctx context.Context, nc *nats.Conn) []varz {
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SYS.REQ.SERVER.PING.VARZ", inbox, []byte("{}")); err != nil {
		return nil
	}
	var out []varz
	deadline := time.Now().Add(2 * time.Second)
	for wait := time.Second; ; wait = 300 * time.Millisecond { // the first answer may take a moment, the others follow it
		if left := time.Until(deadline); left < wait {
			wait = left
		}
		if wait <= 0 || ctx.Err() != nil {
			return out
		}
		m, err := sub.NextMsg(wait)
		if err != nil || m.Header.Get("Status") != "" { // timeout, or "503 no responders"
			return out
		}
		var resp struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
			Data varz `json:"data"`
		}
		if json.Unmarshal(m.Data, &resp) != nil {
			continue
		}
		if resp.Data.ServerName == "" {
			resp.Data.ServerName = resp.Server.Name
		}
		out = append(out, resp.Data)
	}
}

func (d Doctor) smtpCheck(ctx context.Context) Check {
	c := Check{Name: "smtp"}
	switch {
	case d.MailerErr != nil:
		c.Status, c.Detail, c.Fix = CheckAttention, d.MailerErr.Error(), "fix SMTP_URL and MAIL_FROM (README, Configuration reference)"
		return c
	case d.Mailer == nil:
		c.Status, c.Detail = CheckSkipped, "SMTP_URL not set here (the worker's)"
		return c
	}
	cctx, cancel := d.within(ctx)
	defer cancel()
	got, err := d.Mailer.Check(cctx)
	if err == nil {
		steps := []string{"connect", "EHLO"}
		switch got.TLS {
		case "starttls":
			steps = append(steps, "STARTTLS")
		case "implicit":
			steps[0] = "connect (TLS)"
		}
		if got.Auth {
			steps = append(steps, "AUTH")
		}
		c.Status, c.Detail = CheckOK, got.Addr+": "+strings.Join(steps, ", ")
		if got.TLS == "none" {
			c.Detail += " (no TLS: loopback or ?tls=none)"
		}
		return c
	}
	c.Status, c.Detail = CheckAttention, err.Error()
	var ce *notify.CheckError
	step := ""
	if errors.As(err, &ce) {
		step = ce.Step
	}
	switch step {
	case notify.StepConnect:
		c.Fix = "check SMTP_URL's host and port and that this machine may reach them; smtps:// wants a server that speaks TLS at once (port 465), smtp:// one that starts in plain text (587)"
	case notify.StepEHLO:
		c.Fix = "the server refused EHLO: check that SMTP_URL names an SMTP submission server"
	case notify.StepSTARTTLS:
		c.Fix = "the server must offer STARTTLS with a certificate this machine trusts for SMTP_URL's host; or use smtps://"
	case notify.StepAUTH:
		c.Fix = "check the user and password in SMTP_URL (URL-encoded), and that the server allows this sender to authenticate"
	default:
		c.Fix = "check SMTP_URL and MAIL_FROM"
	}
	return c
}

// doctorUsername is a username no provider account can have.
func doctorUsername() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "vpnbilldoctor" + hex.EncodeToString(b)
}

func (d Doctor) providerChecks(ctx context.Context) []Check {
	switch {
	case d.ProvidersErr != nil:
		return []Check{{Name: "providers", Status: CheckAttention, Detail: d.ProvidersErr.Error(),
			Fix: "fix the provider variables named (README, Configuration reference)"}}
	case len(d.Providers) == 0:
		return []Check{{Name: "providers", Status: CheckSkipped, Detail: "none configured here (the worker needs at least one)"}}
	}
	var out []Check
	for _, name := range slices.Sorted(func(yield func(providers.Name) bool) {
		for n := range d.Providers {
			if !yield(n) {
				return
			}
		}
	}) {
		p := d.Providers[name]
		c := Check{Name: "provider " + string(name)}
		cctx, cancel := d.within(ctx)
		var err error
		if p.Capabilities().List {
			var all []provisioning.Remote
			if all, err = p.List(cctx); err == nil {
				c.Detail = fmt.Sprintf("authenticated: listed %d accounts", len(all))
			}
		} else {
			user := doctorUsername()
			var r provisioning.Remote
			if r, err = p.Lookup(cctx, user); err == nil {
				c.Detail = "authenticated: looked up " + user + ", " + map[bool]string{false: "absent as expected", true: "present"}[r.Exists]
			}
		}
		cancel()
		if err == nil {
			c.Status = CheckOK
			out = append(out, c)
			continue
		}
		vars := strings.ToUpper(string(name)) + "_API_*"
		c.Status, c.Detail = CheckAttention, err.Error()
		switch providers.ClassOf(err) {
		case providers.Unauthorized:
			c.Fix = "the provider refused the credentials or this machine's address: check " + vars + " and the provider's IP allow-list"
		case providers.NotSent:
			c.Fix = "the provider could not be reached: check " + strings.ToUpper(string(name)) + "_API_URL and the network"
		case providers.Throttled, providers.Unavailable, providers.Uncertain:
			c.Fix = "the provider did not answer well: try again later; if it persists, ask the provider"
		default:
			c.Fix = "check " + vars
		}
		out = append(out, c)
	}
	return out
}

func (d Doctor) modeCheck() Check {
	c := Check{Name: "stripe mode", Status: CheckOK}
	switch {
	case d.ModeErr != nil:
		c.Status, c.Detail, c.Fix = CheckAttention, d.ModeErr.Error(), "the worker stops at start with this error: fix STRIPE_MODE or STRIPE_API_KEY"
	case d.StripeMode == "":
		c.Detail = "auto: the mode of the first event processed, pinned in bucket ACCOUNTS (`vpnbillctl mode`); set STRIPE_MODE=live on a live deployment"
	default:
		c.Detail = d.StripeMode
	}
	return c
}

// stripeChecks: the key can list events, read a checkout session's line
// items and read a price. keyOK reports whether the key was accepted.
func (d Doctor) stripeChecks(ctx context.Context) (out []Check, keyOK bool) {
	names := []string{"stripe: list events", "stripe: read checkout line items", "stripe: read prices"}
	if d.Stripe == nil {
		for _, n := range names {
			out = append(out, Check{Name: n, Status: CheckSkipped, Detail: "STRIPE_API_KEY not set here"})
		}
		return out, false
	}
	probes := []struct {
		access string
		run    func(ctx context.Context) (string, error)
	}{
		{"Events", d.Stripe.probeEvents},
		{"Checkout Sessions", d.Stripe.probeLineItems},
		{"Prices", func(ctx context.Context) (string, error) { return d.Stripe.probePrice(ctx, d.Plans) }},
	}
	keyOK = true
	for i, pr := range probes {
		c := Check{Name: names[i]}
		if !keyOK {
			c.Status, c.Detail = CheckSkipped, "the key was refused"
			out = append(out, c)
			continue
		}
		cctx, cancel := d.within(ctx)
		detail, err := pr.run(cctx)
		cancel()
		var se *StripeError
		switch {
		case err == nil:
			c.Status, c.Detail = CheckOK, detail
		case errors.As(err, &se) && se.Refused():
			keyOK = false
			c.Status, c.Detail = CheckAttention, err.Error()
			c.Fix = "Stripe refused STRIPE_API_KEY: copy it again, or roll a new one (Dashboard → Developers → API keys); a test key reads test mode only"
		case errors.As(err, &se) && se.Forbidden():
			c.Status, c.Detail = CheckAttention, err.Error()
			c.Fix = "give the restricted key read access to " + pr.access + " (Dashboard → Developers → API keys → the key)"
		default:
			c.Status, c.Detail = CheckAttention, err.Error()
			c.Fix = "check that this machine reaches Stripe (STRIPE_API_URL, egress proxy)"
		}
		out = append(out, c)
	}
	return out, keyOK
}

func (s *StripeAPI) probeEvents(ctx context.Context) (string, error) {
	params := &stripe.EventListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(1)
	params.Single = true
	it := s.events.List(params)
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		return "", stripeFailure("list events", err)
	}
	if n == 0 {
		return "listed events (none yet)", nil
	}
	return "listed events", nil
}

func (s *StripeAPI) probeLineItems(ctx context.Context) (string, error) {
	params := &stripe.CheckoutSessionListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(1)
	params.Single = true
	it := s.sessions.List(params)
	var id string
	if it.Next() {
		id = it.CheckoutSession().ID
	}
	if err := it.Err(); err != nil {
		return "", stripeFailure("list checkout sessions", err)
	}
	if id == "" {
		return "listed checkout sessions (none yet to read the line items of)", nil
	}
	lp := &stripe.CheckoutSessionListLineItemsParams{Session: stripe.String(id)}
	lp.Context = ctx
	lp.Limit = stripe.Int64(1)
	lp.Single = true
	li := s.sessions.ListLineItems(lp)
	for li.Next() {
	}
	if err := li.Err(); err != nil {
		return "", stripeFailure("list the line items of "+id, err)
	}
	return "read the line items of " + id, nil
}

// probePrice reads the first price the plans name, or any price.
func (s *StripeAPI) probePrice(ctx context.Context, plans []billing.Plan) (string, error) {
	for _, p := range plans {
		for _, e := range p.StripePrices {
			if looksLikePriceID(e) {
				params := &stripe.PriceParams{}
				params.Context = ctx
				if _, err := s.prices.Get(e, params); err != nil {
					if err = stripeFailure("read price "+e, err); notFound(err) {
						continue // the plans check reports it
					}
					return "", err
				}
				return "read price " + e, nil
			}
		}
	}
	params := &stripe.PriceListParams{}
	params.Context = ctx
	params.Limit = stripe.Int64(1)
	params.Single = true
	it := s.prices.List(params)
	for it.Next() {
	}
	if err := it.Err(); err != nil {
		return "", stripeFailure("list prices", err)
	}
	return "listed prices", nil
}

var secretBody = regexp.MustCompile(`^[A-Za-z0-9]{16,}$`)

func (d Doctor) secretCheck() Check {
	c := Check{Name: "webhook secret"}
	if d.WebhookSecrets == "" {
		c.Status, c.Detail = CheckSkipped, "STRIPE_WEBHOOK_SECRET not set here (the webhook's): set it, or STRIPE_WEBHOOK_SECRET_FILE, to check its format"
		return c
	}
	fix := "copy the endpoint's signing secret again (Dashboard → Developers → Webhooks → the endpoint → Signing secret), " +
		"or `vpnbillctl stripe setup --url …` prints it when it creates the endpoint; several secrets are comma-separated"
	if _, err := billing.NewVerifier(billing.ParseSecrets(d.WebhookSecrets), 0); err != nil {
		c.Status, c.Detail, c.Fix = CheckAttention, "the webhook would refuse it: "+err.Error(), fix
		return c
	}
	var parts, bad []string
	seen := map[string]bool{}
	for i, s := range billing.ParseSecrets(d.WebhookSecrets) {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			parts = append(parts, fmt.Sprintf("entry %d empty (ignored)", i+1))
		case seen[s]:
			parts = append(parts, fmt.Sprintf("entry %d repeats another", i+1))
		case !secretBody.MatchString(strings.TrimPrefix(s, "whsec_")):
			parts = append(parts, fmt.Sprintf("entry %d: whsec_ and %d characters", i+1, len(s)-len("whsec_")))
			bad = append(bad, fmt.Sprint(i+1))
		default:
			parts = append(parts, fmt.Sprintf("whsec_… (%d characters)", len(s)-len("whsec_")))
		}
		seen[s] = true
	}
	c.Status, c.Detail = CheckOK, strings.Join(parts, ", ")
	if len(bad) > 0 {
		c.Status = CheckAttention
		c.Detail += ": Stripe's secrets are whsec_ and at least 16 letters and digits (no quotes, spaces or other characters)"
		c.Fix = fix
	}
	return c
}

// plansCheck finds every stripe_prices entry in Stripe, and compares the
// prices found by lookup key with the plan's price, if it has one.
func (d Doctor) plansCheck(ctx context.Context, keyOK bool) Check {
	c := Check{Name: "plans vs stripe prices"}
	switch {
	case d.PlansErr != nil:
		c.Status, c.Detail, c.Fix = CheckAttention, d.PlansErr.Error(), "fix the plans file: the worker refuses it at start"
		return c
	case d.Plans == nil:
		c.Status, c.Detail = CheckSkipped, "PLANS_FILE not set here"
		return c
	case d.Stripe == nil:
		c.Status, c.Detail = CheckSkipped, "STRIPE_API_KEY not set here"
		return c
	case !keyOK:
		c.Status, c.Detail = CheckSkipped, "the key was refused"
		return c
	}
	var entries []string
	for _, p := range d.Plans {
		entries = append(entries, p.StripePrices...)
	}
	cctx, cancel := context.WithTimeout(ctx, 3*d.Timeout)
	defer cancel()
	found, err := d.Stripe.resolvePrices(cctx, entries)
	if err != nil {
		c.Status, c.Detail, c.Fix = CheckAttention, err.Error(), "give the key read access to Prices; check that this machine reaches Stripe"
		return c
	}
	var missing, differ []string
	for _, p := range d.Plans {
		for _, e := range p.StripePrices {
			f, ok := found[e]
			switch {
			case !ok:
				missing = append(missing, p.ID+": "+e)
			case f.byLookup && p.Price != nil:
				if diff := priceDiff(*p.Price, p.PeriodDays, f.price); diff != "" {
					differ = append(differ, p.ID+": "+e+": "+diff)
				}
			}
		}
	}
	if len(missing) == 0 && len(differ) == 0 {
		c.Status, c.Detail = CheckOK, fmt.Sprintf("all %d stripe_prices entries of %d plans exist in Stripe", len(entries), len(d.Plans))
		return c
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "not in Stripe (in this key's mode): "+strings.Join(missing, ", "))
	}
	if len(differ) > 0 {
		parts = append(parts, "differ from the plan's price: "+strings.Join(differ, "; "))
	}
	c.Status, c.Detail = CheckAttention, strings.Join(parts, "; ")
	c.Fix = "`vpnbillctl stripe setup --plans \"$PLANS_FILE\"` creates the lookup keys of plans with a price; fix or remove the other entries (a checkout of a price no plan lists is a dead letter)"
	return c
}

// clockCheck compares the local clock with the Date of an answer from the
// Stripe API (a request without credentials: any answer carries it).
func (d Doctor) clockCheck(ctx context.Context) Check {
	c := Check{Name: "clock vs stripe"}
	base := d.StripeURL
	if base == "" {
		base = stripe.APIURL
	}
	cctx, cancel := d.within(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/v1/events?limit=1", nil)
	if err != nil {
		c.Status, c.Detail = CheckUnknown, err.Error()
		return c
	}
	sent := d.Now()
	resp, err := http.DefaultClient.Do(req)
	received := d.Now()
	if err != nil {
		c.Status, c.Detail, c.Fix = CheckUnknown, "cannot reach Stripe: "+err.Error(), "check that this machine reaches Stripe, then the clock (`timedatectl`)"
		return c
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		c.Status, c.Detail, c.Fix = CheckUnknown, "Stripe's answer has no Date", "check the clock: `timedatectl` (NTP synchronised: yes)"
		return c
	}
	// Date is truncated to the second: the server's time was within
	// [date, date+1s), taken between sent and received.
	rtt := received.Sub(sent)
	skew := sent.Add(rtt / 2).Sub(date.Add(500 * time.Millisecond))
	within := (rtt/2 + 500*time.Millisecond).Round(100 * time.Millisecond)
	way := "ahead of"
	if skew < 0 {
		way = "behind"
	}
	abs := skew.Abs().Round(100 * time.Millisecond)
	c.Status, c.Detail = CheckOK, fmt.Sprintf("local clock %s %s Stripe's (±%s)", abs, way, within)
	if skew.Abs() > MaxClockSkew+within {
		c.Status = CheckAttention
		c.Fix = fmt.Sprintf("synchronise the clock (NTP: chrony or systemd-timesyncd; `timedatectl`): beyond %s the webhook refuses Stripe's signatures, "+
			"and timers and leases run off", billing.DefaultTolerance)
	}
	return c
}
