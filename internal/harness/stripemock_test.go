package harness_test

import (
	"net/http"
	"testing"

	"github.com/vpnbill/vpnbill/internal/harness"
)

func TestStripeMock(t *testing.T) {
	t.Parallel()
	base := harness.StripeMock(t)
	for key, want := range map[string]int{"sk_test_harness": http.StatusOK, "sk_live_harness": http.StatusUnauthorized} {
		if got := stripeMockStatus(t, base, key); got != want {
			t.Errorf("GET /v1/events with %s: HTTP %d, want %d", key[:8], got, want)
		}
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
