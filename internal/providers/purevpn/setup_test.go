package purevpn

import (
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

const (
	testUser     = "reseller7"
	testPassword = "pl41n-API-secret"
)

// bundle is what a test needs besides the client.
type bundle struct {
	sim   *purevpnsim.Sim
	clock *harness.Clock
	logs  *observer.ObservedLogs
	cfg   Config // the client's config, to derive other clients from
}

// setup starts a simulator (RequirePeriod on, so every call must carry a
// period) and returns a client of it. simOpts may adjust the simulator.
func setup(t *testing.T, simOpts ...func(*purevpnsim.Options)) (*Client, *bundle) {
	t.Helper()
	clk := harness.NewClock(time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC))
	opts := purevpnsim.Options{User: testUser, Password: testPassword, Now: clk.Now, RequirePeriod: true}
	for _, f := range simOpts {
		f(&opts)
	}
	sim, simURL := harness.PureVPN(t, opts)

	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(zapcore.NewTee(zaptest.NewLogger(t, zaptest.Level(zapcore.DebugLevel)).Core(), core))
	b := &bundle{sim: sim, clock: clk, logs: logs}
	b.cfg = Config{
		URL:      simURL,
		User:     testUser,
		Password: testPassword,
		Timeout:  10 * time.Second,
		RetryFor: new(20 * time.Second),
		Logger:   logger,
	}
	return b.client(t, nil), b
}

// client returns a new client of b's simulator, its config changed by mod.
func (b *bundle) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := b.cfg
	cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// closedURL returns the URL of a listener that was closed: dialing it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + harness.RefusedAddr(t)
}
