package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
)

// Every test shuts down what it starts: embedded servers, connections and
// HTTP servers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const secret = "whsec_ingestTestSecretNeverLogged0123456"

// bundle is the endpoint on a real JetStream with vpnbill's topology, and
// everything it logged.
type bundle struct {
	h    *ingest.Handler
	nc   *nats.Conn
	js   jetstream.JetStream
	topo *events.Topology
	logs *observer.ObservedLogs
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ns := harness.NATS(t)
	b := &bundle{}
	b.nc, b.js = harness.Connect(t, ns, t.Name())
	b.topo = harness.Topology(t, b.js, events.Config{})
	v, err := billing.NewVerifier([]string{secret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	b.logs = logs
	b.h = ingest.New(ingest.Config{PublishTimeout: 2 * time.Second}, v, b.nc, b.js, zap.New(core))
	return b
}

// post serves a POST of payload signed at at (no header if at is zero).
func (b *bundle) post(payload []byte, at time.Time) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(payload))
	if !at.IsZero() {
		req.Header.Set("Stripe-Signature", stripetest.Sign(payload, secret, at))
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// stored returns the messages of stream STRIPE.
func (b *bundle) stored(t *testing.T) []jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := b.topo.Stripe.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := b.topo.Stripe.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, *m)
	}
	return msgs
}

func checkout(created time.Time) []byte {
	return stripetest.CheckoutCompleted(stripetest.ID("evt"), created, stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: "ada@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur",
	})
}

// want is an answer as the README's "What the webhook answers" states it.
type want struct {
	code   int
	body   string
	header map[string]string // "" value: the header is absent
}

func (w want) check(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != w.code || rec.Body.String() != w.body {
		t.Errorf("answered %d %q, want %d %q", rec.Code, rec.Body.String(), w.code, w.body)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
	for k, v := range w.header {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

var (
	wantStored    = want{code: 200, body: `{"status":"stored"}` + "\n", header: map[string]string{"Retry-After": "", "Connection": ""}}
	wantDuplicate = want{code: 200, body: `{"status":"duplicate"}` + "\n"}
	wantIgnored   = want{code: 200, body: `{"status":"ignored"}` + "\n"}
)

// A verified event is stored as it was signed, under its type's subject,
// deduplicated by its event id, with the time it was received; the same
// event again is a duplicate and stores nothing.
func TestStoresTheSignedEventOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	payload := checkout(time.Now())
	env, err := billing.ParseEnvelope(payload)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC()
	wantStored.check(t, b.post(payload, time.Now()))
	wantDuplicate.check(t, b.post(payload, time.Now()))
	msgs := b.stored(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	m := msgs[0]
	if !bytes.Equal(m.Data, payload) {
		t.Errorf("stored data differs from the signed payload")
	}
	if m.Subject != "stripe.event.checkout.session.completed" {
		t.Errorf("subject %q", m.Subject)
	}
	if got := m.Header.Get(jetstream.MsgIDHeader); got != env.ID {
		t.Errorf("Nats-Msg-Id %q, want %q", got, env.ID)
	}
	received, err := time.Parse(time.RFC3339Nano, m.Header.Get(ingest.HeaderReceived))
	if err != nil || received.Before(before.Add(-time.Second)) || received.After(time.Now().Add(time.Second)) || received.Location() != time.UTC {
		t.Errorf("%s %q (%v), want the time of receipt in UTC", ingest.HeaderReceived, m.Header.Get(ingest.HeaderReceived), err)
	}
	if got := b.h.Stats.Published.Load(); got != 1 {
		t.Errorf("Published %d, want 1", got)
	}
	if got := b.h.Stats.Duplicates.Load(); got != 1 {
		t.Errorf("Duplicates %d, want 1", got)
	}
}

// Every answer of the README's table but 503, with its exact body, and
// nothing stored for any of them.
func TestAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now()
	ev := checkout(now)
	notEvent := []byte(`{"not":"an event"}`)
	badID := []byte(`{"id":"cus_<1>","type":"checkout.session.completed","created":1}`)
	cases := []struct {
		name string
		req  func() *http.Request
		want want
	}{
		{"ignored type", func() *http.Request {
			p := stripetest.Event(stripetest.ID("evt"), "customer.created", now, map[string]any{})
			return signed(p, now)
		}, wantIgnored},
		{"no signature", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(ev))
		}, want{code: 400, body: `{"error":"no Stripe-Signature header"}` + "\n"}},
		{"another secret", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(ev))
			req.Header.Set("Stripe-Signature", stripetest.Sign(ev, "whsec_someoneElse", now))
			return req
		}, want{code: 400, body: `{"error":"no valid signature for any configured secret"}` + "\n"}},
		{"a changed body", func() *http.Request {
			req := signed(ev, now)
			req.Body = io.NopCloser(bytes.NewReader(append(bytes.Clone(ev), ' ')))
			return req
		}, want{code: 400, body: `{"error":"no valid signature for any configured secret"}` + "\n"}},
		{"stale", func() *http.Request { return signed(ev, now.Add(-time.Hour)) },
			want{code: 400, body: `{"error":"signature timestamp outside the tolerance"}` + "\n"}},
		{"not an event", func() *http.Request { return signed(notEvent, now) },
			want{code: 400, body: `{"error":"malformed Stripe event: id \"\" is not an event id"}` + "\n"}},
		{"not an event id, escaped as before", func() *http.Request { return signed(badID, now) },
			want{code: 400, body: `{"error":"malformed Stripe event: id \"cus_\u003c1\u003e\" is not an event id"}` + "\n"}},
		{"not JSON", func() *http.Request { return signed([]byte("<xml/>"), now) },
			want{code: 400, body: `{"error":"malformed Stripe event: invalid character '\u003c' looking for beginning of value"}` + "\n"}},
		{"unreadable body", func() *http.Request {
			req := signed(ev, now)
			req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(ev[:10]), errReader{}))
			return req
		}, want{code: 400, body: `{"error":"could not read body"}` + "\n"}},
		{"GET", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/stripe/webhook", nil) },
			want{code: 405, body: `{"error":"POST only"}` + "\n", header: map[string]string{"Allow": "POST"}}},
		{"PUT", func() *http.Request {
			return httptest.NewRequest(http.MethodPut, "/stripe/webhook", bytes.NewReader(ev))
		},
			want{code: 405, body: `{"error":"POST only"}` + "\n", header: map[string]string{"Allow": "POST"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, tc.req())
			tc.want.check(t, rec)
		})
	}
	if msgs := b.stored(t); len(msgs) != 0 {
		t.Errorf("%d messages stored, want none", len(msgs))
	}
	s := &b.h.Stats
	for name, got := range map[string]int64{
		"Skipped": s.Skipped.Load(), "RejectedSignature": s.RejectedSignature.Load(), "RejectedStale": s.RejectedStale.Load(),
		"RejectedMalformed": s.RejectedMalformed.Load(), "RejectedMethod": s.RejectedMethod.Load(), "Received": s.Received.Load(),
	} {
		want := map[string]int64{"Skipped": 1, "RejectedSignature": 3, "RejectedStale": 1, "RejectedMalformed": 4, "RejectedMethod": 2, "Received": 9}[name]
		if got != want {
			t.Errorf("Stats.%s = %d, want %d", name, got, want)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func signed(payload []byte, at time.Time) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", stripetest.Sign(payload, secret, at))
	return req
}

// padded returns a signed-ready event of a handled type of exactly n bytes.
func padded(t *testing.T, n int) []byte {
	t.Helper()
	ev := stripetest.Event(stripetest.ID("evt"), "invoice.paid", time.Now(), map[string]any{"object": "invoice"})
	// {"id":…} → {"pad":"xxx…","id":…}
	extra := n - len(ev) - len(`"pad":"",`)
	if extra < 0 {
		t.Fatalf("an event is already %d bytes", len(ev))
	}
	p := append([]byte(`{"pad":"`+strings.Repeat("x", extra)+`",`), ev[1:]...)
	if len(p) != n {
		t.Fatalf("padded to %d bytes, want %d", len(p), n)
	}
	return p
}

// A body of 64 KiB is read and stored; one byte more is 413 with the
// connection closed, whether or not its length was declared, and nothing is
// stored.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tooLarge := want{code: 413, body: `{"error":"body over 65536 bytes"}` + "\n", header: map[string]string{"Connection": "close"}}
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared length %v", declared), func(t *testing.T) {
			req := func(p []byte) *http.Request {
				r := signed(p, time.Now())
				if !declared {
					r.ContentLength = -1
					r.Body = io.NopCloser(bytes.NewReader(p)) // a reader of unknown length
				}
				return r
			}
			atLimit := padded(t, 64<<10)
			rec := httptest.NewRecorder()
			b.h.ServeHTTP(rec, req(atLimit))
			wantStored.check(t, rec)
			rec = httptest.NewRecorder()
			b.h.ServeHTTP(rec, req(padded(t, 64<<10+1)))
			tooLarge.check(t, rec)
			rec = httptest.NewRecorder()
			b.h.ServeHTTP(rec, req(padded(t, 1<<20)))
			tooLarge.check(t, rec)
		})
	}
	if got, want := len(b.stored(t)), 2; got != want {
		t.Errorf("%d messages stored, want %d", got, want)
	}
	if got := b.h.Stats.RejectedTooLarge.Load(); got != 4 {
		t.Errorf("RejectedTooLarge %d, want 4", got)
	}
}

// A configured limit holds whatever buffer the body is read into (one of a
// larger body before it, too).
func TestConfiguredBodyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wantStored.check(t, b.post(padded(t, 60<<10), time.Now()))
	v, err := billing.NewVerifier([]string{secret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := ingest.New(ingest.Config{MaxBody: 1000}, v, b.nc, b.js, nil)
	tooLarge := want{code: 413, body: `{"error":"body over 1000 bytes"}` + "\n", header: map[string]string{"Connection": "close"}}
	for range 3 { // enough for a pooled buffer to come back
		for _, declared := range []bool{true, false} {
			serve := func(p []byte) *httptest.ResponseRecorder {
				r := signed(p, time.Now())
				if !declared {
					r.ContentLength = -1
					r.Body = io.NopCloser(bytes.NewReader(p))
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				return rec
			}
			wantStored.check(t, serve(padded(t, 1000)))
			tooLarge.check(t, serve(padded(t, 1001)))
		}
	}
}

// A declared length that is not the body's is no way around the limit, and
// the body read is the one stored.
func TestDeclaredLengthIsNotTrusted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, declared := range []int64{0, 10, 100} {
		big := signed(padded(t, 64<<10+1), time.Now())
		big.ContentLength = declared
		rec := httptest.NewRecorder()
		b.h.ServeHTTP(rec, big)
		if rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("declared %d, sent 64 KiB + 1: answered %d, want 413", declared, rec.Code)
		}
	}
	p := checkout(time.Now())
	req := signed(p, time.Now())
	req.ContentLength = 64 << 10 // more than is sent
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	wantStored.check(t, rec)
	if msgs := b.stored(t); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, p) {
		t.Errorf("stored %d messages, want the one sent", len(msgs))
	}
}

// When JetStream cannot store the event, the answer is 503 with
// Retry-After: 10 and nothing is claimed.
func TestNotStoredIs503(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.js.DeleteStream(context.Background(), events.StreamStripe); err != nil {
		t.Fatal(err)
	}
	rec := b.post(checkout(time.Now()), time.Now())
	want{code: 503, body: `{"error":"event not stored, retry later"}` + "\n", header: map[string]string{"Retry-After": "10"}}.check(t, rec)
	if got := b.h.Stats.Unavailable.Load(); got != 1 {
		t.Errorf("Unavailable %d, want 1", got)
	}
	if n := b.logs.FilterMessage("event not stored; answering 503 so Stripe retries").Len(); n != 1 {
		t.Errorf("%d error lines, want 1", n)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t)
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	want{code: 200, body: `{"status":"ok"}` + "\n"}.check(t, get(b.h, "/healthz"))
	want{code: 200, body: `{"status":"ready"}` + "\n"}.check(t, get(b.h, "/readyz"))
	v, err := billing.NewVerifier([]string{secret}, 0)
	if err != nil {
		t.Fatal(err)
	}
	noNATS := ingest.New(ingest.Config{}, v, nil, b.js, nil)
	want{code: 503, body: `{"error":"NATS not connected"}` + "\n"}.check(t, get(noNATS, "/readyz"))
	if err := b.js.DeleteStream(context.Background(), events.StreamStripe); err != nil {
		t.Fatal(err)
	}
	want{code: 503, body: `{"error":"stream STRIPE not reachable"}` + "\n"}.check(t, get(b.h, "/readyz"))
}

// What is logged names the event and its type, and never the secret, the
// signature or the payload.
func TestLogsNoSecret(t *testing.T) {
	t.Parallel()
	b := setup(t)
	now := time.Now()
	ev := checkout(now)
	env, err := billing.ParseEnvelope(ev)
	if err != nil {
		t.Fatal(err)
	}
	sig := stripetest.Sign(ev, secret, now)
	b.post(ev, now)
	b.post(ev, now)
	b.post(stripetest.Event(stripetest.ID("evt"), "customer.created", now, map[string]any{}), now)
	b.post(ev, now.Add(-time.Hour))
	b.post([]byte(`{"not":"an event"}`), now)
	b.post(padded(t, 64<<10+1), now)
	entries := b.logs.All()
	if len(entries) < 6 {
		t.Fatalf("%d lines logged, want one per request", len(entries))
	}
	var stored bool
	for _, e := range entries {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, s := range []string{secret, sig, "ada@example.com"} {
			if strings.Contains(line, s) {
				t.Errorf("logged %q: %s", s, line)
			}
		}
		if e.Message == "event stored" {
			stored = true
			m := e.ContextMap()
			if m["event"] != env.ID || m["type"] != env.Type || m["seq"] == nil {
				t.Errorf("stored line %v, want event, type and seq", m)
			}
		}
	}
	if !stored {
		t.Error(`no "event stored" line`)
	}
}

// Concurrent requests each store their own body, whole.
func TestConcurrentBodiesStayApart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(b.h)
	t.Cleanup(srv.Close)
	const n = 64
	sent := make(map[string][]byte, n)
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = padded(t, 2000+i*613)
		env, err := billing.ParseEnvelope(payloads[i])
		if err != nil {
			t.Fatal(err)
		}
		sent[env.ID] = payloads[i]
	}
	var wg sync.WaitGroup
	for _, p := range payloads {
		wg.Go(func() {
			resp, err := stripetest.Post(srv.Client(), srv.URL+"/stripe/webhook", p, secret)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("answered %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	msgs := b.stored(t)
	if len(msgs) != n {
		t.Fatalf("%d stored, want %d", len(msgs), n)
	}
	for _, m := range msgs {
		if !bytes.Equal(m.Data, sent[m.Header.Get(jetstream.MsgIDHeader)]) {
			t.Errorf("message %d is not the body sent with its id", m.Sequence)
		}
	}
}
