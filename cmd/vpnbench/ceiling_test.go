package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// TestCeilingStoresWhatIsSigned: the ceiling stores a signed event once
// (its id is the Msg-Id), answers 200, and refuses a bad signature.
func TestCeilingStoresWhatIsSigned(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, t.Name())
	harness.Topology(t, js, events.Config{})
	srv := httptest.NewServer(perf.Ceiling{Secret: testSecret, JS: js})
	t.Cleanup(srv.Close)

	tmpl, err := newIDTemplate("evt_ceiling_")
	if err != nil {
		t.Fatal(err)
	}
	ev := tmpl.event()
	postOnce := func(sig string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Stripe-Signature", sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 {
		if code := postOnce(signature(ev, testSecret, time.Now())); code != http.StatusOK {
			t.Fatalf("answer %d, want 200", code)
		}
	}
	if code := postOnce(signature(ev, "whsec_another", time.Now())); code != http.StatusBadRequest {
		t.Errorf("a bad signature: answer %d, want 400", code)
	}
	stream, err := js.Stream(context.Background(), events.StreamStripe)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream STRIPE holds %d messages, want the event once", info.State.Msgs)
	}
}
