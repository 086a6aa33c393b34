package metrics_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/metrics"
)

// Every test shuts down what it starts: embedded servers, connections,
// HTTP servers and watchers.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is a registry and a real JetStream with vpnbill's topology.
type bundle struct {
	reg  *prometheus.Registry
	ns   *harness.NATSServer
	nc   *nats.Conn
	js   jetstream.JetStream
	topo *events.Topology
	srv  *httptest.Server // serves reg's endpoints
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{reg: metrics.NewRegistry(), ns: harness.NATS(t)}
	b.nc, b.js = harness.Connect(t, b.ns, "metrics-test")
	b.topo = harness.Topology(t, b.js, events.Config{})
	b.srv = httptest.NewServer(metrics.Endpoints(b.reg, nil))
	t.Cleanup(b.srv.Close)
	return b
}

// scrape GETs /metrics and returns the exposition text.
func (b *bundle) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(b.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d, %v", resp.StatusCode, err)
	}
	return string(body)
}

// sample returns the value of series (name{labels} exactly as exposed,
// labels sorted by name) in an exposition text.
func sample(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// want asserts each series' value in text.
func want(t *testing.T, text string, series map[string]float64) {
	t.Helper()
	for s, v := range series {
		got, ok := sample(text, s)
		switch {
		case !ok:
			t.Errorf("%s not exposed", s)
		case got != v:
			t.Errorf("%s = %v, want %v", s, got, v)
		}
	}
}
