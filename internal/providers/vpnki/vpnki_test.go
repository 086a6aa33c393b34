package vpnki_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testKey changes under URL encoding, so both forms must be scrubbed.
const testKey = "k3y+/=&x"

type bundle struct {
	sim   *vpnkisim.Sim
	base  string // the simulator's server URL
	clock *harness.Clock
	logs  *observer.ObservedLogs
}

// setup returns a client of a fresh simulator, and the test bundle.
func setup(t *testing.T, mods ...func(*vpnki.Config)) (*vpnki.Client, *bundle) {
	t.Helper()
	clk := harness.NewClock(time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC))
	sim := vpnkisim.New(vpnkisim.Options{Key: testKey, Address: "msk.vpnki.ru", Now: clk.Now})
	base := harness.Serve(t, sim)
	c, logs := newClient(t, base+"/index.php/en/", mods...)
	return c, &bundle{sim: sim, base: base, clock: clk, logs: logs}
}

// newClient returns a client of url whose log lines are kept.
func newClient(t *testing.T, url string, mods ...func(*vpnki.Config)) (*vpnki.Client, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := vpnki.Config{
		URL:    url,
		Key:    testKey,
		Logger: zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core)),
	}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := vpnki.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c, logs
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  vpnki.Config
		want []string
	}{
		{"empty", vpnki.Config{}, []string{"URL is required", "Key is required"}},
		{"scheme", vpnki.Config{URL: "ftp://vpnki.com/index.php", Key: "k"}, []string{"scheme must be http or https"}},
		{"no host", vpnki.Config{URL: "https:///index.php", Key: "k"}, []string{"no host"}},
		{"query", vpnki.Config{URL: "https://vpnki.com/index.php?option=com_api", Key: "k"}, []string{"without query"}},
		{"no path", vpnki.Config{URL: "https://vpnki.com", Key: "k"}, []string{"must name the endpoint"}},
		{"negative", vpnki.Config{URL: "https://vpnki.com/index.php", Key: testKey, Timeout: -1, RetryFor: new(time.Duration(-1))}, []string{"Timeout must not be negative", "RetryFor must not be negative"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := vpnki.New(tc.cfg)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error shows the key: %q", err)
			}
		})
	}
	for _, u := range []string{"https://vpnki.com/index.php", "https://vpnki.com/index.php/en/", "http://127.0.0.1:8080/index.php"} {
		c, err := vpnki.New(vpnki.Config{URL: u, Key: "k"})
		if err != nil {
			t.Errorf("New(%s): %v", u, err)
			continue
		}
		c.CloseIdleConnections()
	}
}

func TestTunnelLifecycle(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := context.Background()

	list, err := c.Tunnels(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("Tunnels on an empty account = %v, %v; want none", list, err)
	}
	nt, err := c.AddTunnel(ctx)
	if err != nil {
		t.Fatalf("AddTunnel: %v", err)
	}
	st, ok := b.sim.Tunnel(nt.Tunnel)
	if !ok {
		t.Fatalf("AddTunnel returned %s, which the provider does not hold", nt)
	}
	if nt.Login != st.Login || nt.Password != st.Password || nt.Address != "msk.vpnki.ru" || !strings.HasPrefix(nt.Tunnel, "user") {
		t.Errorf("AddTunnel = %+v; the provider holds %+v", nt, st)
	}
	b.clock.Add(time.Hour)
	nt2, err := c.AddTunnel(ctx)
	if err != nil {
		t.Fatalf("second AddTunnel: %v", err)
	}
	if nt2.Tunnel == nt.Tunnel || nt2.Password == "" {
		t.Errorf("second tunnel %s is not new", nt2)
	}

	list, err = c.Tunnels(ctx)
	if err != nil {
		t.Fatalf("Tunnels: %v", err)
	}
	want := []vpnki.Tunnel{
		{Name: nt.Tunnel, Login: nt.Login, Comment: nt.Tunnel, Address: "msk.vpnki.ru", Created: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)},
		{Name: nt2.Tunnel, Login: nt2.Login, Comment: nt2.Tunnel, Address: "msk.vpnki.ru", Created: time.Date(2024, 3, 1, 13, 0, 0, 0, time.UTC)},
	}
	if fmt.Sprint(list) != fmt.Sprint(want) {
		t.Errorf("Tunnels = %+v\nwant %+v", list, want)
	}

	if err := c.DelTunnel(ctx, nt.Tunnel); err != nil {
		t.Fatalf("DelTunnel: %v", err)
	}
	if _, ok := b.sim.Tunnel(nt.Tunnel); ok {
		t.Errorf("DelTunnel(%s) succeeded but the tunnel still exists", nt.Tunnel)
	}
	err = c.DelTunnel(ctx, nt.Tunnel)
	if !errors.Is(err, vpnki.ErrNoSuchTunnel) || !errors.Is(err, providers.ErrRejected) {
		t.Errorf("DelTunnel of a deleted tunnel = %v; want ErrNoSuchTunnel and Rejected", err)
	}
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Method != "del_tunnel" || pe.Provider != providers.VPNKI {
		t.Errorf("DelTunnel error %v is not a vpnki del_tunnel *providers.Error", err)
	}
	list, err = c.Tunnels(ctx)
	if err != nil || len(list) != 1 || list[0].Name != nt2.Tunnel {
		t.Errorf("Tunnels after delete = %v, %v; want only %s", list, err, nt2.Tunnel)
	}
}

func TestActiveAndStats(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := context.Background()
	t1, err := c.AddTunnel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := c.AddTunnel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := b.clock.Now()

	if err := b.sim.Connect(t1.Tunnel, "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	act, err := c.Active(ctx)
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	if len(act) != 1 || act[0] != (vpnki.ActiveTunnel{Tunnel: t1.Tunnel, IP: "10.0.0.2", Since: start}) {
		t.Errorf("Active = %+v; want %s from 10.0.0.2 since %s", act, t1.Tunnel, start)
	}

	b.clock.Add(30 * time.Minute)
	if err := b.sim.Disconnect(t1.Tunnel, 1000, 2000); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(time.Hour)
	if err := b.sim.Connect(t2.Tunnel, "10.0.0.3"); err != nil {
		t.Fatal(err)
	}
	b.clock.Add(time.Hour)
	if err := b.sim.Disconnect(t2.Tunnel, 5, 7); err != nil {
		t.Fatal(err)
	}
	if act, err := c.Active(ctx); err != nil || len(act) != 0 {
		t.Errorf("Active after disconnects = %v, %v; want none", act, err)
	}

	s1 := vpnki.Session{Tunnel: t1.Tunnel, Start: start, End: start.Add(30 * time.Minute), BytesIn: 1000, BytesOut: 2000}
	s2 := vpnki.Session{Tunnel: t2.Tunnel, Start: start.Add(90 * time.Minute), End: start.Add(150 * time.Minute), BytesIn: 5, BytesOut: 7}
	cases := []struct {
		name     string
		tunnel   string
		from, to time.Time
		want     []vpnki.Session
	}{
		{"all time, to NOW", "", time.Time{}, time.Time{}, []vpnki.Session{s1, s2}},
		{"first hour", "", start, start.Add(time.Hour), []vpnki.Session{s1}},
		{"after the first", "", start.Add(time.Hour), time.Time{}, []vpnki.Session{s2}},
		{"before anything", "", start.Add(-48 * time.Hour), start.Add(-24 * time.Hour), []vpnki.Session{}},
		{"one tunnel", t2.Tunnel, time.Time{}, time.Time{}, []vpnki.Session{s2}},
		{"one tunnel, other's range", t2.Tunnel, start, start.Add(time.Hour), []vpnki.Session{}},
	}
	for _, tc := range cases {
		var got []vpnki.Session
		var err error
		if tc.tunnel == "" {
			got, err = c.StatUser(ctx, tc.from, tc.to)
		} else {
			got, err = c.StatTunnel(ctx, tc.tunnel, tc.from, tc.to)
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}

	// The wire carries the documented parameters.
	var last vpnkisim.Call
	for _, call := range b.sim.CallLog() {
		if call.Resource == "stat_tunnel" {
			last = call
		}
		if call.Params.Has("key") {
			t.Errorf("CallLog shows the key: %v", call.Params)
		}
	}
	if got := last.Params.Get("ts"); got != vpnki.FormatTime(start) {
		t.Errorf("stat_tunnel ts = %q; want %q", got, vpnki.FormatTime(start))
	}
	if last.Params.Get("tunnel") != t2.Tunnel {
		t.Errorf("stat_tunnel tunnel = %q; want %q", last.Params.Get("tunnel"), t2.Tunnel)
	}
	first := b.sim.CallLog()
	for _, call := range first {
		if call.Resource == "stat_user" {
			if call.Params.Get("ts") != "0000-00-00 00-00-00" || call.Params.Get("te") != "NOW" {
				t.Errorf("stat_user over all time sent ts=%q te=%q; want 0000-00-00 00-00-00 and NOW", call.Params.Get("ts"), call.Params.Get("te"))
			}
			break
		}
	}

	_, err = c.StatTunnel(ctx, "user9999", time.Time{}, time.Time{})
	if !errors.Is(err, vpnki.ErrNoSuchTunnel) || !errors.Is(err, providers.ErrRejected) {
		t.Errorf("StatTunnel of an unknown tunnel = %v; want ErrNoSuchTunnel and Rejected", err)
	}
}

// TestErrorClasses forces each failure on each resource and checks its class.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	type call func(ctx context.Context, c *vpnki.Client, tunnel string) error
	resources := map[string]call{
		"tunnels": func(ctx context.Context, c *vpnki.Client, _ string) error { _, err := c.Tunnels(ctx); return err },
		"active":  func(ctx context.Context, c *vpnki.Client, _ string) error { _, err := c.Active(ctx); return err },
		"stat_user": func(ctx context.Context, c *vpnki.Client, _ string) error {
			_, err := c.StatUser(ctx, time.Time{}, time.Time{})
			return err
		},
		"stat_tunnel": func(ctx context.Context, c *vpnki.Client, tunnel string) error {
			_, err := c.StatTunnel(ctx, tunnel, time.Time{}, time.Time{})
			return err
		},
		"add_tunnel": func(ctx context.Context, c *vpnki.Client, _ string) error { _, err := c.AddTunnel(ctx); return err },
		"del_tunnel": func(ctx context.Context, c *vpnki.Client, tunnel string) error { return c.DelTunnel(ctx, tunnel) },
	}
	faults := []struct {
		name   string
		inject func(*vpnkisim.Sim)
		// want returns the expected class for a resource, 0 for success.
		want   func(resource string) error
		reason string
	}{
		{"wrong key", func(s *vpnkisim.Sim) { s.RejectKey(true) },
			func(string) error { return providers.ErrUnauthorized }, "key was refused"},
		{"no Priority status", func(s *vpnkisim.Sim) { s.SetPriority(false) },
			func(r string) error {
				if r == "add_tunnel" || r == "del_tunnel" {
					return providers.ErrUnauthorized
				}
				return nil
			}, "Priority status"},
		{"not JSON", func(s *vpnkisim.Sim) { s.NotJSONNext(1) },
			func(r string) error {
				if r == "add_tunnel" {
					return providers.ErrUncertain
				}
				return providers.ErrUnavailable
			}, "not JSON"},
		{"HTTP 500 on every attempt", func(s *vpnkisim.Sim) { s.FailNext(1000, http.StatusInternalServerError) },
			func(string) error { return providers.ErrUnavailable }, "HTTP 500"},
		{"throttled longer than RetryFor", func(s *vpnkisim.Sim) { s.ThrottleNext(1, time.Hour) },
			func(string) error { return providers.ErrThrottled }, "HTTP 429"},
	}
	for _, f := range faults {
		for resource, do := range resources {
			t.Run(f.name+"/"+resource, func(t *testing.T) {
				t.Parallel()
				c, b := setup(t, func(c *vpnki.Config) { c.RetryFor = new(time.Second) })
				nt, err := c.AddTunnel(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				f.inject(b.sim)
				err = do(context.Background(), c, nt.Tunnel)
				want := f.want(resource)
				if want == nil {
					if err != nil {
						t.Fatalf("%s = %v; want success", resource, err)
					}
					return
				}
				if !errors.Is(err, want) {
					t.Fatalf("%s = %v; want class %v", resource, err, want)
				}
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Provider != providers.VPNKI || pe.Method != resource {
					t.Fatalf("%s error %v is not a vpnki %s *providers.Error", resource, err, resource)
				}
				if !strings.Contains(err.Error(), f.reason) {
					t.Errorf("%s error %q lacks %q", resource, err, f.reason)
				}
				if errors.Is(err, vpnki.ErrNoSuchTunnel) {
					t.Errorf("%s error %v claims no such tunnel", resource, err)
				}
			})
		}
	}
}

func TestUnknownTunnel(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := context.Background()
	err := c.DelTunnel(ctx, "user404")
	if !errors.Is(err, vpnki.ErrNoSuchTunnel) || !errors.Is(err, providers.ErrRejected) || providers.ClassOf(err) != providers.Rejected {
		t.Errorf("DelTunnel(user404) = %v; want ErrNoSuchTunnel, class Rejected", err)
	}
	if err := c.DelTunnel(ctx, ""); !errors.Is(err, providers.ErrRejected) {
		t.Errorf("DelTunnel(\"\") = %v; want Rejected", err)
	}
	if _, err := c.StatTunnel(ctx, "", time.Time{}, time.Time{}); !errors.Is(err, providers.ErrRejected) {
		t.Errorf("StatTunnel(\"\") = %v; want Rejected", err)
	}
	if n := b.sim.Calls("del_tunnel") + b.sim.Calls("stat_tunnel"); n != 1 {
		t.Errorf("the provider saw %d calls; an empty tunnel name must not be sent", n)
	}
}

func TestRetryRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("add_tunnel after a 503 is not retried", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		b.sim.FailNext(1, http.StatusServiceUnavailable)
		_, err := c.AddTunnel(ctx)
		if !errors.Is(err, providers.ErrUnavailable) {
			t.Errorf("AddTunnel = %v; want Unavailable", err)
		}
		if n := b.sim.Calls("add_tunnel"); n != 1 {
			t.Errorf("add_tunnel sent %d times; want once", n)
		}
		if n := len(b.sim.Tunnels()); n != 0 {
			t.Errorf("%d tunnels exist; want none", n)
		}
	})

	t.Run("add_tunnel whose answer is lost is not retried and can be adopted", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		b.sim.DropNext(1)
		_, err := c.AddTunnel(ctx)
		if !errors.Is(err, providers.ErrUncertain) {
			t.Fatalf("AddTunnel = %v; want Uncertain", err)
		}
		if n := b.sim.Calls("add_tunnel"); n != 1 {
			t.Errorf("add_tunnel sent %d times; want once", n)
		}
		held := b.sim.Tunnels()
		if len(held) != 1 {
			t.Fatalf("the provider holds %d tunnels; want the one committed", len(held))
		}
		list, err := c.Tunnels(ctx)
		if err != nil || len(list) != 1 || list[0].Name != held[0].Name {
			t.Errorf("Tunnels = %v, %v; want %s listed for adoption", list, err, held[0].Name)
		}
	})

	t.Run("add_tunnel that times out is not retried", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t, func(c *vpnki.Config) { c.Timeout = time.Second })
		b.sim.SetLatency(time.Hour) // the handler gives up when the client does
		_, err := c.AddTunnel(ctx)
		if !errors.Is(err, providers.ErrUncertain) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("AddTunnel = %v; want Uncertain by deadline", err)
		}
		if n := b.sim.Calls("add_tunnel"); n != 1 {
			t.Errorf("add_tunnel sent %d times; want once", n)
		}
	})

	t.Run("tunnels after two 503s succeeds", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		if _, err := c.AddTunnel(ctx); err != nil {
			t.Fatal(err)
		}
		b.sim.FailNext(2, http.StatusServiceUnavailable)
		list, err := c.Tunnels(ctx)
		if err != nil || len(list) != 1 {
			t.Errorf("Tunnels = %v, %v; want one tunnel after retries", list, err)
		}
		if n := b.sim.Calls("tunnels"); n != 3 {
			t.Errorf("tunnels sent %d times; want 3", n)
		}
	})

	t.Run("add_tunnel throttled once succeeds with one tunnel", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		b.sim.ThrottleNext(1, time.Second)
		nt, err := c.AddTunnel(ctx)
		if err != nil {
			t.Fatalf("AddTunnel = %v; want success after waiting", err)
		}
		if held := b.sim.Tunnels(); len(held) != 1 || held[0].Name != nt.Tunnel {
			t.Errorf("the provider holds %v; want only %s", held, nt.Tunnel)
		}
		if n := b.sim.Calls("add_tunnel"); n != 2 {
			t.Errorf("add_tunnel sent %d times; want 2 (429, then the create)", n)
		}
	})

	t.Run("del_tunnel whose answer is lost is retried and reports the tunnel gone", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		nt, err := c.AddTunnel(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.sim.DropNext(1)
		err = c.DelTunnel(ctx, nt.Tunnel)
		if !errors.Is(err, vpnki.ErrNoSuchTunnel) {
			t.Errorf("DelTunnel = %v; want ErrNoSuchTunnel, which the caller takes as done", err)
		}
		if _, ok := b.sim.Tunnel(nt.Tunnel); ok {
			t.Error("the tunnel still exists")
		}
		if n := b.sim.Calls("del_tunnel"); n < 2 {
			t.Errorf("del_tunnel sent %d times; want a retry", n)
		}
	})

	t.Run("connection refused is NotSent", func(t *testing.T) {
		t.Parallel()
		u := "http://" + harness.RefusedAddr(t) + "/index.php"
		c, _ := newClient(t, u, func(c *vpnki.Config) { c.RetryFor = new(500 * time.Millisecond) })
		_, err := c.AddTunnel(ctx)
		if !errors.Is(err, providers.ErrNotSent) {
			t.Errorf("AddTunnel to a closed port = %v; want NotSent", err)
		}
	})
}

func TestWrongEndpointIsSystemic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	// A path the API does not serve: Joomla's 404 page.
	c, _ := newClient(t, b.base+"/index.html")
	if _, err := c.Tunnels(ctx); !errors.Is(err, providers.ErrUnauthorized) || !strings.Contains(err.Error(), "not the API endpoint") {
		t.Errorf("Tunnels at a wrong path = %v; want Unauthorized naming the URL", err)
	}
	// A site that redirects, keeping the query (and so the key) in Location.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/index.php/ru/?"+r.URL.RawQuery, http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	c, _ = newClient(t, redirect.URL+"/index.php")
	_, err := c.AddTunnel(ctx)
	if !errors.Is(err, providers.ErrUnauthorized) || !strings.Contains(err.Error(), "/index.php/ru/") {
		t.Errorf("AddTunnel redirected = %v; want Unauthorized naming the redirect", err)
	}
	assertNoSecret(t, err.Error(), nil)
}

func TestObserveSeesBodyRefusals(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	c, b := setup(t, func(c *vpnki.Config) {
		c.Observe = func(method string, err error, took time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s %v", method, providers.ClassOf(err)))
		}
	})
	ctx := context.Background()
	if _, err := c.Tunnels(ctx); err != nil {
		t.Fatal(err)
	}
	b.sim.RejectKey(true)
	_, _ = c.Tunnels(ctx)
	mu.Lock()
	defer mu.Unlock()
	want := []string{"tunnels class(0)", "tunnels unauthorized"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("Observe saw %v; want %v", seen, want)
	}
}

func TestNewTunnelHidesPassword(t *testing.T) {
	t.Parallel()
	nt := vpnki.NewTunnel{Tunnel: "user1", Login: "user1", Password: "s3cretPW", Address: "msk.vpnki.ru"}
	core, logs := observer.New(zapcore.DebugLevel)
	zap.New(core).Info("created", zap.Any("tunnel", nt), zap.Object("t", nt), zap.Stringer("s", nt))
	out := fmt.Sprintf("%v %+v %#v %s", nt, nt, nt, nt)
	for _, e := range logs.All() {
		out += fmt.Sprint(e.ContextMap())
	}
	if strings.Contains(out, "s3cretPW") {
		t.Errorf("the password shows: %s", out)
	}
	if !strings.Contains(out, "user1") {
		t.Errorf("the tunnel does not show: %s", out)
	}
}

func TestTimeFormat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		t    time.Time
		wire string
	}{
		{time.Date(2015, 12, 31, 23, 59, 59, 0, time.UTC), "2015-12-31 23-59-59"},
		{time.Date(2016, 10, 10, 0, 0, 0, 0, time.UTC), "2016-10-10 00-00-00"},
		{time.Date(2024, 3, 1, 15, 4, 5, 0, time.FixedZone("MSK", 3*3600)), "2024-03-01 12-04-05"},
		{time.Time{}, "0000-00-00 00-00-00"},
	}
	for _, tc := range cases {
		if got := vpnki.FormatTime(tc.t); got != tc.wire {
			t.Errorf("FormatTime(%v) = %q; want %q", tc.t, got, tc.wire)
		}
		back, err := vpnki.ParseTime(tc.wire)
		if err != nil || !back.Equal(tc.t) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.wire, back, err, tc.t)
		}
	}
	for _, bad := range []string{"NOW", "", "2015-12-31 23:59:59", "2015-12-31T23-59-59", "2015-13-01 00-00-00", "2015-12-31 23-59-59.5", "15-12-31 23-59-59"} {
		if _, err := vpnki.ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted it", bad)
		}
	}
	if vpnki.Now != "NOW" {
		t.Errorf("Now = %q", vpnki.Now)
	}
}

// TestSecretsNeverShown forces every failure kind with a key that URL
// encoding changes and checks that neither the key, in any form, nor a
// tunnel password shows in an error or a log line.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t, func(c *vpnki.Config) { c.RetryFor = new(time.Second); c.Timeout = time.Second })
	nt, err := c.AddTunnel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	record := func(err error) {
		if err == nil {
			t.Error("a forced failure succeeded")
			return
		}
		errs = append(errs, err)
	}
	add := func() { _, err := c.AddTunnel(ctx); record(err) }
	list := func() { _, err := c.Tunnels(ctx); record(err) }

	b.sim.RejectKey(true)
	add()
	list()
	b.sim.RejectKey(false)
	b.sim.SetPriority(false)
	add()
	record(c.DelTunnel(ctx, nt.Tunnel))
	b.sim.SetPriority(true)
	record(c.DelTunnel(ctx, "user404"))
	b.sim.FailNext(1, http.StatusBadGateway) // the error page echoes the request URI with the key
	add()
	b.sim.FailNext(100, http.StatusInternalServerError)
	list()
	b.sim.FailNext(0, 0)
	b.sim.ThrottleNext(1, time.Hour)
	add()
	b.sim.NotJSONNext(1) // a PHP warning before the answer, password included
	add()
	b.sim.NotJSONNext(1)
	list()
	b.sim.DropNext(1) // *url.Error with the URL
	add()
	b.sim.SetLatency(time.Hour) // timeout: *url.Error with the URL
	add()
	b.sim.SetLatency(0)

	refused := "http://" + harness.RefusedAddr(t) + "/index.php"
	c2, logs2 := newClient(t, refused, func(c *vpnki.Config) { c.RetryFor = new(300 * time.Millisecond) })
	_, err = c2.AddTunnel(ctx)
	record(err)
	_, err = c2.StatTunnel(ctx, "user1", time.Time{}, time.Time{})
	record(err)

	passwords := []string{nt.Password}
	for _, tun := range b.sim.Tunnels() {
		passwords = append(passwords, tun.Password)
	}
	if len(passwords) < 3 {
		t.Fatalf("only %d passwords to look for; the failures should have created tunnels", len(passwords))
	}
	for _, err := range errs {
		assertNoSecret(t, fmt.Sprintf("%v | %+v | %s", err, err, err.Error()), passwords)
	}
	if len(errs) != 14 {
		t.Errorf("recorded %d failures; want 14", len(errs))
	}
	lines := append(b.logs.All(), logs2.All()...)
	if len(lines) == 0 {
		t.Error("no log lines to check")
	}
	for _, e := range lines {
		assertNoSecret(t, e.Message+" "+fmt.Sprint(e.ContextMap()), passwords)
	}
}

func assertNoSecret(t *testing.T, s string, passwords []string) {
	t.Helper()
	for _, secret := range []string{testKey, url.QueryEscape(testKey), url.PathEscape(testKey), "k3y"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows the key as %q", s, secret)
		}
	}
	for _, p := range passwords {
		if p != "" && strings.Contains(s, p) {
			t.Errorf("%q shows a tunnel password", s)
		}
	}
}
