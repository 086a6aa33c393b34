package harness_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers/registry"
)

func TestRefusedAddrRefuses(t *testing.T) {
	t.Parallel()
	addr := harness.RefusedAddr(t)
	for range 3 {
		_, err := net.DialTimeout("tcp", addr, time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s = %v, want connection refused", addr, err)
		}
	}
	// Its port stays taken: nobody else can listen there meanwhile.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be listened on while reserved", addr)
	}
}

// A restarted server is the same server to its clients: same address, same
// store; a connection made before the stop reconnects and reads what was
// stored.
func TestNATSRestartKeepsTheStore(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	url := ns.ClientURL()
	_, js := harness.Connect(t, ns, "restart")
	topo := harness.Topology(t, js, events.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := topo.Accounts.Put(ctx, "sub_1", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	ns.Stop()
	ns.Restart(t)
	if ns.ClientURL() != url {
		t.Errorf("restarted at %s, want %s", ns.ClientURL(), url)
	}
	// A request sent while the server's JetStream is still starting may go
	// unanswered: each attempt is bounded.
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		e, err := topo.Accounts.Get(actx, "sub_1")
		acancel()
		if err == nil {
			if string(e.Value()) != "kept" {
				t.Fatalf("sub_1 = %q after the restart, want kept", e.Value())
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("sub_1 not readable after the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The plans file is what a process given PLANS_FILE reads.
func TestPlansFileIsTheCatalog(t *testing.T) {
	t.Parallel()
	catalog, path := harness.Plans(t, "plans:\n  - id: std\n    stripe_prices: [price_std]\n    provider: purevpn\n", registry.CheckPlan)
	loaded, err := billing.LoadCatalog(path, registry.CheckPlan)
	if err != nil {
		t.Fatal(err)
	}
	if len(catalog.Plans()) != 1 || !reflect.DeepEqual(loaded.Plans(), catalog.Plans()) {
		t.Errorf("file holds %+v, catalog %+v", loaded.Plans(), catalog.Plans())
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := harness.NewClock(t0)
	c.Add(time.Hour)
	c.AdvanceTo(t0) // earlier: ignored
	if got := c.Now(); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("Now = %s, want %s", got, t0.Add(time.Hour))
	}
	c.Set(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Errorf("after Set, Now = %s, want %s", got, t0)
	}
}

// A World's parts answer where it says they are.
func TestWorld(t *testing.T) {
	t.Parallel()
	w := harness.NewWorld(t, harness.WorldOptions{})
	if w.Topology.Accounts == nil || w.NC.Status() != nats.CONNECTED {
		t.Errorf("topology %+v, connection %s", w.Topology, w.NC.Status())
	}
	for _, u := range []string{w.PureVPNURL, w.VPNKIURL} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
	}
	if w.PureVPN.Calls("create") != 0 || len(w.VPNKI.Tunnels()) != 0 {
		t.Error("the simulators start with state")
	}
	conn, err := net.DialTimeout("tcp", w.Mail.Addr(), time.Second)
	if err != nil {
		t.Fatalf("mail catcher: %v", err)
	}
	conn.Close()
}
