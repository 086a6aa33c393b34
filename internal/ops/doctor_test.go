package ops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/harness"
)

func TestDoctorWebhookSecret(t *testing.T) {
	t.Parallel()
	const good = "whsec_0123456789abcdefABCDEF012345"
	for _, tc := range []struct {
		secrets string
		status  CheckStatus
	}{
		{"", CheckSkipped},
		{good, CheckOK},
		{good + "," + "whsec_" + strings.Repeat("ab", 32), CheckOK}, // rotation; the CLI's are 64 hex digits
		{" " + good + " ,", CheckOK},                                // spaces and an empty entry: the webhook ignores them
		{"whsec_short", CheckAttention},
		{`"` + good + `"`, CheckAttention},
		{"whsec_0123456789abcdef 0123456789", CheckAttention},
		{good + ",sk_test_0123456789abcdef", CheckAttention},
		{"0123456789abcdef0123456789", CheckAttention},
	} {
		c := Doctor{WebhookSecrets: tc.secrets}.secretCheck()
		if c.Status != tc.status {
			t.Errorf("%q: %+v, want %s", tc.secrets, c, tc.status)
		}
		if strings.Contains(c.Detail+c.Fix, "0123456789abcdef") {
			t.Errorf("%q: the finding quotes the secret: %+v", tc.secrets, c)
		}
	}
}

func TestDoctorClusterFixes(t *testing.T) {
	t.Parallel()
	healthy := &jetstream.ClusterInfo{Name: "vpnbill", Leader: "n1", Replicas: []*jetstream.PeerInfo{{Name: "n2", Current: true}, {Name: "n3", Current: true}}}
	if f := clusterFixes(healthy); len(f) != 0 {
		t.Errorf("healthy: %q", f)
	}
	if f := clusterFixes(&jetstream.ClusterInfo{Leader: "single"}); len(f) != 0 {
		t.Errorf("a single server: %q", f)
	}
	sick := &jetstream.ClusterInfo{Name: "vpnbill", Replicas: []*jetstream.PeerInfo{{Name: "n2", Offline: true}, {Name: "n3", Lag: 40}}}
	f := clusterFixes(sick)
	if len(f) != 3 || !strings.Contains(f[0], "no leader") || !strings.Contains(f[1], "n2") || !strings.Contains(f[2], "n3") {
		t.Errorf("no leader, a replica offline, one behind: %q", f)
	}
	if d := clusterDetail(sick); !strings.Contains(d, "n2 (offline)") || !strings.Contains(d, "n3 (behind by 40)") {
		t.Errorf("detail: %q", d)
	}
}

func TestDoctorClock(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized) // no key: any answer carries a Date
	}))
	t.Cleanup(srv.Close)
	for skew, want := range map[time.Duration]CheckStatus{
		0: CheckOK, 20 * time.Second: CheckOK, -20 * time.Second: CheckOK,
		2 * time.Minute: CheckAttention, -10 * time.Minute: CheckAttention,
	} {
		d := Doctor{StripeURL: srv.URL, Timeout: 5 * time.Second, Now: func() time.Time { return time.Now().Add(skew) }}
		if c := d.clockCheck(context.Background()); c.Status != want {
			t.Errorf("a clock %s off: %+v, want %s", skew, c, want)
		}
	}
	d := Doctor{StripeURL: "http://" + harness.RefusedAddr(t), Timeout: 5 * time.Second, Now: time.Now}
	if c := d.clockCheck(context.Background()); c.Status != CheckUnknown {
		t.Errorf("Stripe unreachable: %+v, want unknown", c)
	}
}
