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
		if resp.StatusCode != want {
			t.Errorf("GET /v1/events with %s: HTTP %d, want %d", key[:8], resp.StatusCode, want)
		}
	}
}
