package purevpn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// testCtx bounds a test's calls; it is a guard, never an assertion.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustCreate(t *testing.T, c *Client) Account {
	t.Helper()
	a, err := c.Create(testCtx(t), Standard, Period30)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return a
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestCreate(t *testing.T) {
	t.Parallel()
	for _, pkg := range []PackageType{Standard, SSTP, HighBW} {
		for _, period := range []Period{Period30, Period60, Period90, Period180, Period365} {
			t.Run(fmt.Sprintf("%s/%s", pkg, period), func(t *testing.T) {
				t.Parallel()
				c, b := setup(t)
				got, err := c.Create(testCtx(t), pkg, period)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				at, ok := b.sim.Account(got.Username)
				if !ok {
					t.Fatalf("account %q not at the simulator", got.Username)
				}
				if at.Password != got.Password || at.PackageType != string(pkg) || !at.Enabled {
					t.Errorf("simulator has %+v, client returned %v with password match %v", at, got, at.Password == got.Password)
				}
				if want := b.clock.Now().AddDate(0, 0, period.Days()); !at.Expiry.Equal(want) {
					t.Errorf("expiry %v, want %v", at.Expiry, want)
				}
				if n := len(b.sim.Accounts()); n != 1 {
					t.Errorf("%d accounts, want 1", n)
				}
				st, err := c.Status(testCtx(t), got.Username)
				if err != nil {
					t.Fatalf("Status: %v", err)
				}
				if want := day(2025, 3, 10).AddDate(0, 0, period.Days()); !st.Expiry.Equal(want) || !st.Enabled {
					t.Errorf("Status = %+v, want enabled until %v", st, want)
				}
			})
		}
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	t.Run("extends from the expiry", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		a := mustCreate(t, c)
		got, err := c.Renew(testCtx(t), a.Username, Period90)
		if err != nil {
			t.Fatalf("Renew: %v", err)
		}
		if got.Username != a.Username || got.Password != a.Password {
			t.Errorf("Renew returned %v, want the account's credentials", got)
		}
		at, _ := b.sim.Account(a.Username)
		if want := b.clock.Now().AddDate(0, 0, 30+90); !at.Expiry.Equal(want) {
			t.Errorf("expiry %v, want %v", at.Expiry, want)
		}
	})
	t.Run("extends from now once expired", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		a := mustCreate(t, c)
		b.clock.Add(45 * 24 * time.Hour)
		if _, err := c.Renew(testCtx(t), a.Username, Period30); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		at, _ := b.sim.Account(a.Username)
		if want := b.clock.Now().AddDate(0, 0, 30); !at.Expiry.Equal(want) {
			t.Errorf("expiry %v, want %v", at.Expiry, want)
		}
	})
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, combined := range []bool{false, true} {
		t.Run(fmt.Sprintf("combined=%v", combined), func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t, func(o *purevpnsim.Options) { o.CombinedStatus = combined })
			a := mustCreate(t, c)
			if err := c.Disable(testCtx(t), a.Username); err != nil {
				t.Fatalf("Disable: %v", err)
			}
			st, err := c.Status(testCtx(t), a.Username)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Enabled || !st.Expiry.Equal(day(2025, 4, 9)) || st.RawExpiry != "April 9, 2025" {
				t.Errorf("Status = %+v, want disabled until 2025-04-09", st)
			}
			wantRaw := "Disabled"
			if combined {
				wantRaw = "Disabled:April 9, 2025"
			}
			if st.RawStatus != wantRaw {
				t.Errorf("RawStatus %q, want %q", st.RawStatus, wantRaw)
			}
		})
	}
}

func TestUpdateAccount(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	a := mustCreate(t, c)
	for _, enable := range []bool{false, false, true, true, false} {
		if err := c.UpdateAccount(testCtx(t), a.Username, enable); err != nil {
			t.Fatalf("UpdateAccount(%v): %v", enable, err)
		}
		at, _ := b.sim.Account(a.Username)
		if at.Enabled != enable {
			t.Fatalf("after UpdateAccount(%v) the simulator has enabled=%v", enable, at.Enabled)
		}
	}
	if err := c.Enable(testCtx(t), a.Username); err != nil {
		t.Fatal(err)
	}
	if at, _ := b.sim.Account(a.Username); !at.Enabled {
		t.Error("Enable left the account disabled")
	}
}

func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	a, other := mustCreate(t, c), mustCreate(t, c)
	if err := c.DeleteAccount(testCtx(t), a.Username); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, ok := b.sim.Account(a.Username); ok {
		t.Error("account still at the simulator")
	}
	if _, ok := b.sim.Account(other.Username); !ok {
		t.Error("the other account was deleted too")
	}
	err := c.DeleteAccount(testCtx(t), a.Username)
	if !errors.Is(err, providers.ErrRejected) || !errors.Is(err, ErrNoSuchAccount) {
		t.Errorf("second delete: %v, want Rejected and ErrNoSuchAccount", err)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	a := mustCreate(t, c)
	if err := c.ChangePassword(testCtx(t), a.Username, "Zx81Spec"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	if at, _ := b.sim.Account(a.Username); at.Password != "Zx81Spec" {
		t.Error("password not changed at the simulator")
	}
	for _, bad := range []string{"", "short1", "toolong123", "has space", "pässwörd", "abc-1234"} {
		err := c.ChangePassword(testCtx(t), a.Username, bad)
		if !errors.Is(err, ErrInvalidArgument) || providers.ClassOf(err) != 0 {
			t.Errorf("ChangePassword(%q): %v, want a local ErrInvalidArgument", bad, err)
		}
	}
	if n := b.sim.Calls("change_password"); n != 1 {
		t.Errorf("%d change_password calls at the simulator, want 1: invalid passwords must not be sent", n)
	}
}

func TestInvalidArgumentsAreNotSent(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := testCtx(t)
	calls := map[string]func() error{
		"create bad package": func() error { _, err := c.Create(ctx, "GOLD", Period30); return err },
		"create bad period":  func() error { _, err := c.Create(ctx, Standard, 31); return err },
		"renew bad period":   func() error { _, err := c.Renew(ctx, "pvr100001", 0); return err },
		"renew no user":      func() error { _, err := c.Renew(ctx, " ", Period30); return err },
		"status no user":     func() error { _, err := c.Status(ctx, ""); return err },
		"delete no user":     func() error { return c.DeleteAccount(ctx, "") },
		"update no user":     func() error { return c.UpdateAccount(ctx, "", true) },
		"password no user":   func() error { return c.ChangePassword(ctx, "", "abcd1234") },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
	if n := len(b.sim.CallLog()); n != 0 {
		t.Errorf("%d calls reached the simulator, want 0", n)
	}
}

// methods calls every method of the client on username.
var methods = []struct {
	name       string
	idempotent bool
	call       func(ctx context.Context, c *Client, username string) error
}{
	{"create", false, func(ctx context.Context, c *Client, _ string) error {
		_, err := c.Create(ctx, HighBW, Period60)
		return err
	}},
	{"renew", false, func(ctx context.Context, c *Client, u string) error {
		_, err := c.Renew(ctx, u, Period30)
		return err
	}},
	{"status", true, func(ctx context.Context, c *Client, u string) error {
		_, err := c.Status(ctx, u)
		return err
	}},
	{"delete_account", true, func(ctx context.Context, c *Client, u string) error { return c.DeleteAccount(ctx, u) }},
	{"update_account", true, func(ctx context.Context, c *Client, u string) error { return c.UpdateAccount(ctx, u, false) }},
	{"change_password", false, func(ctx context.Context, c *Client, u string) error {
		return c.ChangePassword(ctx, u, "Abcd1234")
	}},
}

// TestErrorClasses forces every error shape on every method through a real
// HTTP exchange and checks its class.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	short := func(cfg *Config) { cfg.RetryFor = new(300 * time.Millisecond) }
	shapes := []struct {
		name string
		// arrange prepares the simulator and returns the username to call
		// and a change to the client's config.
		arrange func(t *testing.T, b *bundle, username string) (string, func(*Config))
		// want is the class for non-idempotent and idempotent methods.
		want, wantIdempotent error
		noSuchAccount        bool // ErrNoSuchAccount in the chain (not for create)
	}{
		{
			name: "bad username",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				return "pvr999999", func(cfg *Config) { cfg.Names.PackageType = "pkg" } // create: no package_type sent
			},
			want: providers.ErrRejected, wantIdempotent: providers.ErrRejected, noSuchAccount: true,
		},
		{
			name: "bad period",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				return u, func(cfg *Config) { cfg.Names.Period = "periode" } // the simulator sees no period
			},
			want: providers.ErrRejected, wantIdempotent: providers.ErrRejected,
		},
		{
			name: "not XML",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.NotXMLNext(1)
				return u, nil
			},
			want: providers.ErrUncertain, wantIdempotent: providers.ErrUnavailable,
		},
		{
			name: "truncated answer",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.TruncateNext(1)
				return u, nil
			},
			want: providers.ErrUncertain, wantIdempotent: providers.ErrUnavailable,
		},
		{
			name: "5xx",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.FailNext(1000, http.StatusBadGateway)
				return u, short
			},
			want: providers.ErrUnavailable, wantIdempotent: providers.ErrUnavailable,
		},
		{
			name: "429 with Retry-After",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.ThrottleNext(1000, time.Hour) // longer than RetryFor: returned at once
				return u, nil
			},
			want: providers.ErrThrottled, wantIdempotent: providers.ErrThrottled,
		},
		{
			name: "dropped response",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.DropNext(1000)
				return u, short
			},
			want: providers.ErrUncertain, wantIdempotent: providers.ErrUncertain,
		},
		{
			name: "attempt timeout",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.SetLatency(time.Minute) // the handler returns as soon as the client leaves
				return u, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond; cfg.RetryFor = new(300 * time.Millisecond) }
			},
			want: providers.ErrUncertain, wantIdempotent: providers.ErrUncertain,
		},
		{
			name: "bad credentials",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				return u, func(cfg *Config) { cfg.Password = "wrong-password" }
			},
			want: providers.ErrUnauthorized, wantIdempotent: providers.ErrUnauthorized,
		},
		{
			name: "credentials refused",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				b.sim.RejectCredentials(true)
				return u, nil
			},
			want: providers.ErrUnauthorized, wantIdempotent: providers.ErrUnauthorized,
		},
		{
			name: "IP not allow-listed",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				_, allowURL := harness.PureVPN(t, purevpnsim.Options{User: testUser, Password: testPassword, AllowIPs: []string{"192.0.2.10", "10.0.0.0/8"}})
				return u, func(cfg *Config) { cfg.URL = allowURL }
			},
			want: providers.ErrUnauthorized, wantIdempotent: providers.ErrUnauthorized,
		},
		{
			name: "redirect",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				srv := httptest.NewServer(http.RedirectHandler("https://example.invalid/api", http.StatusMovedPermanently))
				t.Cleanup(srv.Close)
				return u, func(cfg *Config) { cfg.URL = srv.URL }
			},
			want: providers.ErrUnauthorized, wantIdempotent: providers.ErrUnauthorized,
		},
		{
			name: "connection refused",
			arrange: func(t *testing.T, b *bundle, u string) (string, func(*Config)) {
				url := closedURL(t)
				return u, func(cfg *Config) { cfg.URL = url; cfg.RetryFor = new(300 * time.Millisecond) }
			},
			want: providers.ErrNotSent, wantIdempotent: providers.ErrNotSent,
		},
	}
	for _, shape := range shapes {
		for _, m := range methods {
			t.Run(shape.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				good, b := setup(t)
				existing := mustCreate(t, good)
				username, mod := shape.arrange(t, b, existing.Username)
				c := b.client(t, mod)
				err := m.call(testCtx(t), c, username)
				t.Logf("error: %v", err)
				want := shape.want
				if m.idempotent {
					want = shape.wantIdempotent
				}
				if !errors.Is(err, want) {
					t.Fatalf("error %v (class %v), want %v", err, providers.ClassOf(err), want)
				}
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Provider != providers.PureVPN || pe.Method != m.name {
					t.Errorf("error %#v does not name purevpn %s", pe, m.name)
				}
				if errors.Is(err, providers.ErrThrottled) && pe.RetryAfter != time.Hour {
					t.Errorf("RetryAfter %v, want 1h", pe.RetryAfter)
				}
				if shape.noSuchAccount && m.name != "create" && !errors.Is(err, ErrNoSuchAccount) {
					t.Errorf("error %v lacks ErrNoSuchAccount", err)
				}
				if !shape.noSuchAccount && errors.Is(err, ErrNoSuchAccount) {
					t.Errorf("error %v has ErrNoSuchAccount", err)
				}
			})
		}
	}
}

func TestCreateNotRetriedAfter503(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.sim.FailNext(1, http.StatusServiceUnavailable)
	_, err := c.Create(testCtx(t), Standard, Period30)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Create: %v, want Unavailable", err)
	}
	if n := b.sim.Calls("create"); n != 1 {
		t.Errorf("%d create calls at the simulator, want exactly 1", n)
	}
	if n := len(b.sim.Accounts()); n != 0 {
		t.Errorf("%d accounts, want 0", n)
	}
}

func TestCreateNotRetriedAfterDrop(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.sim.DropNext(1)
	_, err := c.Create(testCtx(t), SSTP, Period365)
	if !errors.Is(err, providers.ErrUncertain) {
		t.Fatalf("Create: %v, want Uncertain", err)
	}
	if n := b.sim.Calls("create"); n != 1 {
		t.Errorf("%d create calls at the simulator, want exactly 1", n)
	}
	if accts := b.sim.Accounts(); len(accts) != 1 || accts[0].PackageType != "SSTP" {
		t.Errorf("simulator has %d accounts, want the one committed create", len(accts))
	}
}

func TestNonIdempotentNotRetriedAfter503(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	a := mustCreate(t, c)
	b.sim.FailNext(1, http.StatusInternalServerError)
	if _, err := c.Renew(testCtx(t), a.Username, Period30); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Renew: %v, want Unavailable", err)
	}
	b.sim.FailNext(1, http.StatusInternalServerError)
	if err := c.ChangePassword(testCtx(t), a.Username, "Qwerty12"); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("ChangePassword: %v, want Unavailable", err)
	}
	if r, p := b.sim.Calls("renew"), b.sim.Calls("change_password"); r != 1 || p != 1 {
		t.Errorf("renew calls %d, change_password calls %d; want 1 each", r, p)
	}
	if at, _ := b.sim.Account(a.Username); at.Password != a.Password || !at.Expiry.Equal(b.clock.Now().AddDate(0, 0, 30)) {
		t.Error("a failed renew or password change took effect")
	}
}

func TestIdempotentRetried(t *testing.T) {
	t.Parallel()
	t.Run("status after two 503", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		a := mustCreate(t, c)
		b.sim.FailNext(2, http.StatusServiceUnavailable)
		st, err := c.Status(testCtx(t), a.Username)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if !st.Enabled {
			t.Error("status says disabled")
		}
		if n := b.sim.Calls("status"); n != 3 {
			t.Errorf("%d status calls, want 3", n)
		}
	})
	t.Run("update after a dropped response", func(t *testing.T) {
		t.Parallel()
		c, b := setup(t)
		a := mustCreate(t, c)
		b.sim.DropNext(1)
		if err := c.Disable(testCtx(t), a.Username); err != nil {
			t.Fatalf("Disable: %v", err)
		}
		if at, _ := b.sim.Account(a.Username); at.Enabled {
			t.Error("account still enabled")
		}
		if n := b.sim.Calls("update_account"); n != 2 {
			t.Errorf("%d update_account calls, want 2", n)
		}
	})
}

func TestCreateRetriedAfterThrottle(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	b.sim.ThrottleNext(1, time.Second)
	a, err := c.Create(testCtx(t), Standard, Period30)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	accts := b.sim.Accounts()
	if len(accts) != 1 || accts[0].Username != a.Username {
		t.Errorf("simulator has %d accounts, want exactly the one returned", len(accts))
	}
	if n := b.sim.Calls("create"); n != 2 {
		t.Errorf("%d create calls, want 2 (throttled, then made)", n)
	}
}

// TestContextEndsBetweenAttempts lets the caller's deadline pass while the
// exchange waits out a Retry-After: the error must still carry a class.
func TestContextEndsBetweenAttempts(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	a := mustCreate(t, c)
	b.sim.ThrottleNext(1000, 15*time.Second) // within RetryFor: the exchange waits
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx, a.Username)
	// Throttled, what the provider last said, when the deadline passed
	// during the wait (the usual case); Uncertain should a loaded machine
	// make the first attempt outlive it.
	if !errors.Is(err, providers.ErrThrottled) && !errors.Is(err, providers.ErrUncertain) {
		t.Fatalf("Status: %v (class %v), want Throttled", err, providers.ClassOf(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Status: %v does not say the deadline passed", err)
	}
	if n := b.sim.Calls("status"); n != 1 {
		t.Errorf("%d status calls, want 1", n)
	}
}

func TestAlternativeSpellings(t *testing.T) {
	t.Parallel()
	c, b := setup(t, func(o *purevpnsim.Options) { o.AlternativeSpellings = true })
	a := mustCreate(t, c)
	alt := b.client(t, func(cfg *Config) {
		cfg.Names = Names{Username: "user", UpdateAccount: "update_status", DeleteAccount: "delete"}
	})
	ctx := testCtx(t)
	if err := alt.Disable(ctx, a.Username); err != nil {
		t.Fatalf("Disable: %v", err)
	}
	if at, _ := b.sim.Account(a.Username); at.Enabled {
		t.Error("not disabled")
	}
	if err := alt.DeleteAccount(ctx, a.Username); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if _, ok := b.sim.Account(a.Username); ok {
		t.Error("not deleted")
	}
	if b.sim.Calls("update_status") != 1 || b.sim.Calls("delete") != 1 {
		t.Error("the alternative method names were not sent")
	}
	for _, rec := range b.sim.CallLog()[1:] {
		if rec.Params.Get("user") != a.Username || rec.Params.Has("username") {
			t.Errorf("%s sent %v, want the username as user", rec.Method, rec.Params)
		}
	}
}

func TestEveryCallCarriesTheWireFields(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	c := b.client(t, func(cfg *Config) { cfg.DefaultPeriod = Period90 })
	ctx := testCtx(t)
	a, err := c.Create(ctx, Standard, Period365)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 2, 4, 5, 3} { // delete last
		if err := methods[i].call(ctx, c, a.Username); err != nil {
			t.Fatalf("%s: %v", methods[i].name, err)
		}
	}
	want := map[string]string{"create": "#365", "renew": "#30", "status": "#90", "delete_account": "#90", "update_account": "#90", "change_password": "#90"}
	log := b.sim.CallLog()
	if len(log) != len(want) {
		t.Fatalf("%d calls logged, want %d", len(log), len(want))
	}
	for _, rec := range log {
		if got := rec.Params.Get("period"); got != want[rec.Method] {
			t.Errorf("%s sent period %q, want %q", rec.Method, got, want[rec.Method])
		}
		if rec.Params.Get("API") != "True" || rec.Params.Get("api_user") != testUser {
			t.Errorf("%s sent %v, want API=True and api_user", rec.Method, rec.Params)
		}
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	var mu sync.Mutex
	var seen []string
	c := b.client(t, func(cfg *Config) {
		cfg.Observe = func(method string, err error, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s:%v", method, providers.ClassOf(err)))
		}
	})
	a := mustCreate(t, c)
	b.sim.FailNext(1, http.StatusServiceUnavailable)
	_ = c.ChangePassword(testCtx(t), a.Username, "Abcd1234")
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, ","); got != "create:class(0),change_password:unavailable" {
		t.Errorf("observed %s", got)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	good := Config{URL: "https://api.example.com/reseller", User: "u", Password: "p"}
	if _, err := New(good); err != nil {
		t.Fatalf("New(good): %v", err)
	}
	d := good.WithDefaults()
	if d.Timeout != 15*time.Second || *d.RetryFor != 30*time.Second || d.DefaultPeriod != Period30 ||
		d.Names.Username != "username" || d.Names.UpdateAccount != "update_account" || d.Transport == nil || d.Logger == nil {
		t.Errorf("WithDefaults = %+v", d)
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"no URL", func(c *Config) { c.URL = "" }, []string{"URL is required"}},
		{"bad scheme", func(c *Config) { c.URL = "ftp://x" }, []string{"URL must be"}},
		{"no host", func(c *Config) { c.URL = "http://" }, []string{"URL must be"}},
		{"bad URL", func(c *Config) { c.URL = "http://a b:pass@%zz" }, []string{"URL does not parse"}},
		{"no credentials", func(c *Config) { c.User, c.Password = "", "" }, []string{"User is required", "Password is required"}},
		{"bad period", func(c *Config) { c.DefaultPeriod = 45 }, []string{"DefaultPeriod 45"}},
		{"names clash", func(c *Config) { c.Names.Username = "period" }, []string{`Names.Period "period" is already Names.Username`}},
		{"reserved name", func(c *Config) { c.Names.NewPassword = "api_password" }, []string{`Names.NewPassword "api_password"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tt.mod(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New accepted an invalid config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pass@") {
				t.Errorf("error %q quotes the URL", err)
			}
		})
	}
}

func TestNamesFromOverrides(t *testing.T) {
	t.Parallel()
	n, err := NamesFromOverrides(map[string]string{"delete_account": "delete", "username": "user"})
	if err != nil {
		t.Fatal(err)
	}
	if n.DeleteAccount != "delete" || n.Username != "user" || n.Create != "create" {
		t.Errorf("names = %+v", n)
	}
	if _, err := NamesFromOverrides(map[string]string{"delete": "x"}); err == nil || !strings.Contains(err.Error(), `"delete"`) {
		t.Errorf("an unknown key must be named: %v", err)
	}
	if _, err := NamesFromOverrides(map[string]string{"username": "period"}); err == nil {
		t.Error("a parameter spelled like another must be refused")
	}
}

// RetryFor zero is a choice, not "unset": one attempt, no retry; unset is
// the 30 s default, which retries a 503 within the call.
func TestRetryForZeroMakesOneAttempt(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	for _, tc := range []struct {
		name     string
		retryFor *time.Duration
		calls    int
		fails    bool
	}{
		{"zero", new(time.Duration(0)), 1, true},
		{"unset", nil, 2, false},
	} {
		b.sim.FailNext(1, http.StatusServiceUnavailable)
		before := b.sim.Calls("status")
		c := b.client(t, func(cfg *Config) { cfg.RetryFor = tc.retryFor })
		_, err := c.Status(context.Background(), "pvr100001")
		if got := b.sim.Calls("status") - before; got != tc.calls {
			t.Errorf("%s: %d status calls, want %d", tc.name, got, tc.calls)
		}
		if tc.fails != (err != nil && providers.ClassOf(err) == providers.Unavailable) {
			t.Errorf("%s: error %v", tc.name, err)
		}
	}
}
