package events_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
)

// guard bounds every wait, only so that a broken test fails instead of hanging.
const guard = 20 * time.Second

// testBundle is what setup gives a test: a running embedded JetStream
// server, a client connection to it and the declared topology.
type testBundle struct {
	srv  *harness.NATSServer // stopping it early is allowed
	nc   *nats.Conn
	js   jetstream.JetStream
	topo *events.Topology
	cfg  events.Config
}

// setup starts a server in t.TempDir, connects to it and runs events.Setup
// with cfg. Everything is closed at the end of the test.
func setup(t *testing.T, cfg events.Config) *testBundle {
	t.Helper()
	b := startServer(t)
	b.topo = harness.Topology(t, b.js, cfg)
	b.cfg = b.topo.Config
	return b
}

// startServer starts a server and connects to it, declaring nothing.
func startServer(t *testing.T) *testBundle {
	t.Helper()
	srv := harness.NATS(t)
	nc, js := harness.Connect(t, srv, t.Name()) // closed before the server stops
	return &testBundle{srv: srv, nc: nc, js: js}
}

// testContext is canceled at the end of the test or after guard.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

func TestSetupDeclaresEverything(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{StripeMaxAge: 31 * 24 * time.Hour, DuplicateWindow: 2 * time.Hour, AccountsHistory: 7})
	ctx := testContext(t)

	tests := []struct {
		stream     string
		subjects   []string
		maxAge     time.Duration
		duplicates time.Duration
	}{
		{events.StreamStripe, []string{"stripe.event.>"}, 31 * 24 * time.Hour, 2 * time.Hour},
		{events.StreamAudit, []string{"audit.>"}, 0, 2 * time.Hour},
		{events.StreamDead, []string{"dead.>"}, 0, 2 * time.Hour},
	}
	for _, tt := range tests {
		s, err := b.js.Stream(ctx, tt.stream)
		if err != nil {
			t.Fatalf("stream %s: %v", tt.stream, err)
		}
		c := s.CachedInfo().Config
		if c.Storage != jetstream.FileStorage {
			t.Errorf("%s: storage %v, want file", tt.stream, c.Storage)
		}
		if strings.Join(c.Subjects, ",") != strings.Join(tt.subjects, ",") {
			t.Errorf("%s: subjects %v, want %v", tt.stream, c.Subjects, tt.subjects)
		}
		if c.MaxAge != tt.maxAge {
			t.Errorf("%s: max age %s, want %s", tt.stream, c.MaxAge, tt.maxAge)
		}
		if c.Duplicates != tt.duplicates {
			t.Errorf("%s: duplicate window %s, want %s", tt.stream, c.Duplicates, tt.duplicates)
		}
		if c.Replicas != 1 {
			t.Errorf("%s: replicas %d, want 1", tt.stream, c.Replicas)
		}
	}

	kv, err := b.js.KeyValue(ctx, events.BucketAccounts)
	if err != nil {
		t.Fatalf("bucket %s: %v", events.BucketAccounts, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatalf("bucket status: %v", err)
	}
	if st.History() != 7 {
		t.Errorf("accounts history %d, want 7", st.History())
	}
	kvs, err := b.js.Stream(ctx, "KV_"+events.BucketAccounts)
	if err != nil {
		t.Fatalf("bucket stream: %v", err)
	}
	if got := kvs.CachedInfo().Config.Storage; got != jetstream.FileStorage {
		t.Errorf("accounts storage %v, want file", got)
	}
	if err := events.Ready(ctx, b.js); err != nil {
		t.Errorf("Ready after Setup: %v", err)
	}
}

func TestSetupDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	c := b.topo.Stripe.CachedInfo().Config
	if c.MaxAge != 35*24*time.Hour || c.Duplicates != 24*time.Hour {
		t.Errorf("STRIPE max age %s, duplicate window %s; want 840h, 24h", c.MaxAge, c.Duplicates)
	}
	want := events.Config{Replicas: 1, StripeMaxAge: 35 * 24 * time.Hour, DuplicateWindow: 24 * time.Hour,
		AccountsHistory: 10, AckWait: time.Minute, MaxDeliver: 20}
	if b.topo.Config != want {
		t.Errorf("topology config %+v, want %+v", b.topo.Config, want)
	}
}

func TestSetupIsIdempotentAndAppliesChanges(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	if _, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", "evt_1", []byte("{}"), nil); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	// Same config again: nothing changes, nothing is lost.
	topo, err := events.Setup(ctx, b.js, events.Config{})
	if err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if got := topo.Stripe.CachedInfo().State.Msgs; got != 1 {
		t.Errorf("STRIPE holds %d messages after a second Setup, want 1", got)
	}

	// A changed setting is applied.
	topo, err = events.Setup(ctx, b.js, events.Config{StripeMaxAge: 60 * 24 * time.Hour, AccountsHistory: 20})
	if err != nil {
		t.Fatalf("third Setup: %v", err)
	}
	s, err := b.js.Stream(ctx, events.StreamStripe)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != 60*24*time.Hour {
		t.Errorf("STRIPE max age %s after update, want 1440h", got)
	}
	if got := s.CachedInfo().State.Msgs; got != 1 {
		t.Errorf("STRIPE holds %d messages after update, want 1", got)
	}
	st, err := topo.Accounts.Status(ctx)
	if err != nil {
		t.Fatalf("bucket status: %v", err)
	}
	if st.History() != 20 {
		t.Errorf("accounts history %d after update, want 20", st.History())
	}
}

func TestSetupRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	ctx := testContext(t)

	tests := []struct {
		name string
		cfg  events.Config
		want string // part of the error: names the field
	}{
		{"replicas 2", events.Config{Replicas: 2}, "replicas"},
		{"negative replicas", events.Config{Replicas: -1}, "replicas"},
		{"stripe max age 1 day", events.Config{StripeMaxAge: 24 * time.Hour}, "stripe max age"},
		{"duplicate window beyond max age", events.Config{DuplicateWindow: 40 * 24 * time.Hour}, "duplicate window"},
		{"negative duplicate window", events.Config{DuplicateWindow: -time.Hour}, "duplicate window"},
		{"negative audit max age", events.Config{AuditMaxAge: -time.Hour}, "audit max age"},
		{"history 3", events.Config{AccountsHistory: 3}, "accounts history"},
		{"history 65", events.Config{AccountsHistory: 65}, "accounts history"},
		{"ack wait 500ms", events.Config{AckWait: 500 * time.Millisecond}, "ack wait"},
		{"max deliver 1", events.Config{MaxDeliver: 1}, "max deliver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := events.Setup(ctx, b.js, tt.cfg)
			if err == nil {
				t.Fatalf("Setup(%+v) succeeded, want an error naming %q", tt.cfg, tt.want)
			}
			if topo != nil {
				t.Errorf("Setup returned a topology with the error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}

	t.Run("every invalid field is reported", func(t *testing.T) {
		_, err := events.Setup(ctx, b.js, events.Config{Replicas: 2, AccountsHistory: 3, MaxDeliver: 1})
		if err == nil {
			t.Fatal("Setup succeeded, want an error")
		}
		for _, want := range []string{"replicas", "accounts history", "max deliver"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
	})

	// Nothing was declared by a rejected config.
	if _, err := b.js.Stream(ctx, events.StreamStripe); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream STRIPE after rejected configs: %v, want ErrStreamNotFound", err)
	}
}

func TestStripeSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		eventType string
		want      string // "" means invalid
	}{
		{"checkout.session.completed", "stripe.event.checkout.session.completed"},
		{"invoice.paid", "stripe.event.invoice.paid"},
		{"customer.subscription.deleted", "stripe.event.customer.subscription.deleted"},
		{"charge.refunded", "stripe.event.charge.refunded"},
		{"ping", "stripe.event.ping"},
		{"", ""},
		{"*", ""},
		{">", ""},
		{"invoice.*", ""},
		{"invoice.>", ""},
		{"invoice paid", ""},
		{"invoice.paid\n", ""},
		{"invoice\t.paid", ""},
		{".invoice", ""},
		{"invoice.", ""},
		{"invoice..paid", ""},
		{strings.Repeat("a", 201), ""},
	}
	for _, tt := range tests {
		got, err := events.StripeSubject(tt.eventType)
		if tt.want == "" {
			if err == nil {
				t.Errorf("StripeSubject(%q) = %q, want an error", tt.eventType, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("StripeSubject(%q) = %q, %v; want %q", tt.eventType, got, err, tt.want)
		}
	}
}

func TestPublishDeduplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	subject, err := events.StripeSubject("invoice.paid")
	if err != nil {
		t.Fatal(err)
	}

	first, err := events.Publish(ctx, b.js, subject, "evt_dup", []byte(`{"n":1}`), nats.Header{"X-Test": []string{"1"}})
	if err != nil {
		t.Fatalf("first Publish: %v", err)
	}
	if first.Duplicate {
		t.Error("first PubAck is a duplicate")
	}
	second, err := events.Publish(ctx, b.js, subject, "evt_dup", []byte(`{"n":2}`), nil)
	if err != nil {
		t.Fatalf("second Publish: %v", err)
	}
	if !second.Duplicate {
		t.Error("second PubAck of the same id is not a duplicate")
	}
	if second.Sequence != first.Sequence {
		t.Errorf("duplicate acked sequence %d, want the first's %d", second.Sequence, first.Sequence)
	}

	info, err := b.topo.Stripe.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("STRIPE holds %d messages, want 1", info.State.Msgs)
	}
	m, err := b.topo.Stripe.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"n":1}` || m.Header.Get(nats.MsgIdHdr) != "evt_dup" || m.Header.Get("X-Test") != "1" {
		t.Errorf("stored %q with headers %v; want the first publish with its id", m.Data, m.Header)
	}
}

func TestPublishRejectsEmptyID(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	if _, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", "", []byte("{}"), nil); err == nil {
		t.Fatal("Publish with an empty id succeeded")
	}
	info, err := b.topo.Stripe.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("STRIPE holds %d messages, want 0", info.State.Msgs)
	}
}

func TestPublishServerDownIsNotStored(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	b.srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := events.Publish(ctx, b.js, "stripe.event.invoice.paid", "evt_down", []byte("{}"), nil)
	if !errors.Is(err, events.ErrNotStored) {
		t.Fatalf("Publish with the server down: %v, want ErrNotStored", err)
	}
}

func TestUntilReady(t *testing.T) {
	t.Parallel()
	log := zaptest.NewLogger(t)

	t.Run("retries until declare succeeds", func(t *testing.T) {
		t.Parallel()
		calls := 0
		err := events.UntilReady(testContext(t), log, func(ctx context.Context) error {
			calls++
			if calls < 2 {
				return errors.New("nats: no servers available")
			}
			return nil
		})
		if err != nil || calls != 2 {
			t.Errorf("UntilReady = %v after %d calls, want nil after 2", err, calls)
		}
	})

	t.Run("gives up when ctx ends", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		err := events.UntilReady(ctx, log, func(ctx context.Context) error {
			cancel()
			return errors.New("nats: no servers available")
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("UntilReady = %v, want context.Canceled", err)
		}
	})
}

func TestCeilSecond(t *testing.T) {
	t.Parallel()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct{ in, want time.Time }{
		{base, base},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.Add(999 * time.Millisecond), base.Add(time.Second)},
		{base.Add(time.Second), base.Add(time.Second)},
	}
	for _, tt := range tests {
		if got := events.CeilSecond(tt.in); !got.Equal(tt.want) {
			t.Errorf("CeilSecond(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
