package stripemock_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/vpnbill/vpnbill/internal/stripemock"
)

// Start, outside a test (cmd/demo): stop ends stripe-mock, and a
// start whose context has ended leaves nothing running.
func TestStartStops(t *testing.T) {
	t.Parallel()
	base, stop, err := stripemock.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := stripeMockStatus(t, base, "sk_test_harness"); got != http.StatusOK {
		t.Errorf("GET /v1/events: HTTP %d, want 200", got)
	}
	stop()
	stop() // a second stop does nothing
	if resp, err := http.Get(base + "/v1/events"); err == nil {
		resp.Body.Close()
		t.Errorf("stripe-mock still answers after stop: HTTP %d", resp.StatusCode)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := stripemock.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Start with an ended context = %v, want context.Canceled", err)
	}
}

// stripeMockStatus is the status of GET /v1/events?limit=1 with key.
func stripeMockStatus(t *testing.T, base, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/events?limit=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
