package harness

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/embednats"
	"github.com/vpnbill/vpnbill/internal/events"
)

// setupWithin bounds events.Setup, only so that a broken server fails the
// test instead of hanging it.
const setupWithin = time.Minute

// NATSServer is an embedded JetStream server run for one test.
type NATSServer struct {
	*embednats.Server
	storeDir string
	port     int
}

// NATS starts an embedded JetStream server on a random loopback port with
// its store in a temporary directory. It is stopped at the end of the
// test, after every cleanup registered later (so after the connections
// made to it); stopping it earlier is allowed.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	s := &NATSServer{storeDir: t.TempDir()}
	s.start(t)
	// Stops whichever server is current: Restart replaces it.
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *NATSServer) start(t testing.TB) {
	t.Helper()
	srv, err := embednats.Start(embednats.Options{StoreDir: s.storeDir, Port: s.port})
	if err != nil {
		t.Fatalf("harness: start NATS: %v", err)
	}
	s.Server = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

// Restart starts the server again after Stop, on the port and over the
// store it had: clients reconnect to it and find what was stored. The new
// server is stopped at the end of the test in the first one's place.
func (s *NATSServer) Restart(t testing.TB) {
	t.Helper()
	s.start(t)
}

// Cluster starts n clustered JetStream servers on loopback, each with its
// store in a temporary directory, and stops them at the end of the test.
func Cluster(t testing.TB, n int) *embednats.Cluster {
	t.Helper()
	c, err := embednats.StartCluster(n, t.TempDir())
	if err != nil {
		t.Fatalf("harness: start a %d-node cluster: %v", n, err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Connector is what can be connected to: a NATSServer, an
// embednats.Server or an embednats.Cluster.
type Connector interface {
	Connect(name string) (*nats.Conn, jetstream.JetStream, error)
}

// Connect opens a client connection named name (reconnecting forever, as
// vpnbill's processes do) and its JetStream context. The connection is
// closed at the end of the test, before the server it was made to stops.
func Connect(t testing.TB, to Connector, name string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := to.Connect(name)
	if err != nil {
		t.Fatalf("harness: connect %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

// Topology declares vpnbill's streams and buckets, sized by cfg, as a
// process does at start (events.Setup).
func Topology(t testing.TB, js jetstream.JetStream, cfg events.Config) *events.Topology {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupWithin)
	defer cancel()
	topo, err := events.Setup(ctx, js, cfg)
	// A cluster just started may not yet know all its peers: placing an R3
	// stream then fails with "no suitable peers" for a moment.
	for cfg.Replicas > 1 && err != nil && strings.Contains(err.Error(), "no suitable peers") && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		topo, err = events.Setup(ctx, js, cfg)
	}
	if err != nil {
		t.Fatalf("harness: events.Setup: %v", err)
	}
	if cfg.Replicas > 1 {
		waitForLeaders(ctx, t, topo)
	}
	return topo
}

// waitForLeaders waits until every replicated stream of topo has elected
// a leader and the bucket answers reads: just after a cluster creates them,
// requests meet "no responders" for a moment.
func waitForLeaders(ctx context.Context, t testing.TB, topo *events.Topology) {
	t.Helper()
	for {
		ready := true
		for _, s := range []jetstream.Stream{topo.Stripe, topo.Audit, topo.Dead, topo.Timers} {
			info, err := s.Info(ctx)
			if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
				ready = false
			}
		}
		if _, err := topo.Accounts.Get(ctx, "harness-probe"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			ready = false
		}
		if ready {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("harness: the cluster's streams have no leaders: %v", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
