package purevpnsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	user     = "reseller"
	password = "top-secret"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type bundle struct {
	sim   *Sim
	srv   *httptest.Server
	clock *clock
	http  *http.Client
}

func setup(t *testing.T, mod ...func(*Options)) *bundle {
	t.Helper()
	clk := &clock{now: time.Date(2025, 1, 31, 8, 0, 0, 0, time.UTC)}
	opts := Options{User: user, Password: password, Now: clk.Now}
	for _, m := range mod {
		m(&opts)
	}
	sim := New(opts)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &bundle{sim: sim, srv: srv, clock: clk, http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// reply is an answer of the simulator.
type reply struct {
	Result      string `xml:"result"`
	User        string `xml:"user"`
	VPNPassword string `xml:"vpn_password"`
	Expiry      string `xml:"expiry_status"`
	Status      string `xml:"status"`
	Message     string `xml:"message"`
}

// form returns the fields every call carries, with params added as key, value pairs.
func form(method string, params ...string) url.Values {
	sum := md5.Sum([]byte(password))
	v := url.Values{"API": {"True"}, "api_user": {user}, "api_password": {hex.EncodeToString(sum[:])}, "method": {method}}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	return v
}

func (b *bundle) post(t *testing.T, v url.Values) reply {
	t.Helper()
	resp, err := b.http.PostForm(b.srv.URL, v)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	var r reply
	if err := xml.Unmarshal(body, &r); err != nil {
		t.Fatalf("answer %q is not XML: %v", body, err)
	}
	if !strings.HasPrefix(string(body), "<xml>") {
		t.Errorf("answer %q does not start with <xml>", body)
	}
	return r
}

func (b *bundle) create(t *testing.T) reply {
	t.Helper()
	r := b.post(t, form("create", "package_type", "STANDARD", "period", "#30"))
	if r.Result != "1" {
		t.Fatalf("create: %+v", r)
	}
	return r
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.create(t)
	if len(r.User) != 9 || !strings.HasPrefix(r.User, "pvr") || !alphanumeric8(r.VPNPassword) {
		t.Errorf("create answered user %q, password of %d chars", r.User, len(r.VPNPassword))
	}
	a, ok := b.sim.Account(r.User)
	if !ok || a.Password != r.VPNPassword || a.PackageType != "STANDARD" || !a.Enabled || !a.Expiry.Equal(b.clock.Now().AddDate(0, 0, 30)) {
		t.Fatalf("account %+v, ok %v", a, ok)
	}

	st := b.post(t, form("status", "username", r.User))
	if st.Result != "1" || st.Status != "Enabled" || st.Expiry != "March 2, 2025" {
		t.Errorf("status %+v", st)
	}

	rn := b.post(t, form("renew", "username", r.User, "period", "#60"))
	if rn.Result != "1" || rn.User != r.User || rn.VPNPassword != r.VPNPassword {
		t.Errorf("renew %+v", rn)
	}
	if a, _ := b.sim.Account(r.User); !a.Expiry.Equal(b.clock.Now().AddDate(0, 0, 90)) {
		t.Errorf("renew from the expiry: %v", a.Expiry)
	}
	b.clock.Add(200 * 24 * time.Hour)
	b.post(t, form("renew", "username", r.User, "period", "#365"))
	if a, _ := b.sim.Account(r.User); !a.Expiry.Equal(b.clock.Now().AddDate(0, 0, 365)) {
		t.Errorf("renew after expiry is from now: %v", a.Expiry)
	}

	if u := b.post(t, form("update_account", "username", r.User, "update_status", "disable")); u.Result != "1" {
		t.Errorf("disable %+v", u)
	}
	if st := b.post(t, form("status", "username", r.User)); st.Status != "Disabled" {
		t.Errorf("status after disable %+v", st)
	}
	b.post(t, form("update_account", "username", r.User, "update_status", "enable"))
	if a, _ := b.sim.Account(r.User); !a.Enabled {
		t.Error("enable did not enable")
	}

	if p := b.post(t, form("change_password", "username", r.User, "new_pass", "Abc12345")); p.Result != "1" {
		t.Errorf("change_password %+v", p)
	}
	if a, _ := b.sim.Account(r.User); a.Password != "Abc12345" {
		t.Error("password not changed")
	}

	if d := b.post(t, form("delete_account", "username", r.User)); d.Result != "1" {
		t.Errorf("delete %+v", d)
	}
	if _, ok := b.sim.Account(r.User); ok || len(b.sim.Accounts()) != 0 {
		t.Error("account not deleted")
	}
}

func TestUsernamesAreUnique(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { b.create(t) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range b.sim.Accounts() {
		seen[a.Username] = true
	}
	if len(seen) != 20 || b.sim.Calls("create") != 20 {
		t.Errorf("%d distinct accounts and %d calls for 20 creates", len(seen), b.sim.Calls("create"))
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acct := b.create(t).User
	without := func(v url.Values, k string) url.Values { v.Del(k); return v }
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"no API", without(form("status", "username", acct), "API"), "Invalid API request"},
		{"API false", form("status", "username", acct, "API", "False"), "Invalid API request"},
		{"wrong user", form("status", "username", acct, "api_user", "other"), "Invalid api_user or api_password"},
		{"plain password", form("status", "username", acct, "api_password", password), "Invalid api_user or api_password"},
		{"no method", without(form("status", "username", acct), "method"), "Invalid method"},
		{"unknown method", form("list", "username", acct), "Invalid method"},
		{"alternative method", form("delete", "username", acct), "Invalid method"},
		{"create without period", form("create", "package_type", "SSTP"), "Invalid period"},
		{"create bad period", form("create", "package_type", "SSTP", "period", "30"), "Invalid period"},
		{"create 31 days", form("create", "package_type", "SSTP", "period", "#31"), "Invalid period"},
		{"create bad package", form("create", "package_type", "standard", "period", "#30"), "Invalid package_type"},
		{"renew bad period", form("renew", "username", acct, "period", "#7"), "Invalid period"},
		{"renew unknown user", form("renew", "username", "pvr999999", "period", "#30"), "Username does not exist"},
		{"status no user", form("status"), "Username does not exist"},
		{"alternative username", form("status", "user", acct), "Username does not exist"},
		{"delete unknown user", form("delete_account", "username", "pvr000001"), "Username does not exist"},
		{"update bad status", form("update_account", "username", acct, "update_status", "on"), "Invalid update_status"},
		{"password short", form("change_password", "username", acct, "new_pass", "abc123"), "alphanumeric and 8 characters"},
		{"password symbol", form("change_password", "username", acct, "new_pass", "abc-1234"), "alphanumeric and 8 characters"},
	}
	for _, tt := range tests {
		r := b.post(t, tt.form)
		if r.Result != "0" || !strings.Contains(r.Message, tt.want) {
			t.Errorf("%s: %+v, want result 0 saying %q", tt.name, r, tt.want)
		}
	}
	// Nothing changed.
	if accts := b.sim.Accounts(); len(accts) != 1 || !accts[0].Enabled || !accts[0].Expiry.Equal(b.clock.Now().AddDate(0, 0, 30)) {
		t.Errorf("bad input changed the accounts: %+v", accts)
	}

	resp, err := b.http.Get(b.srv.URL + "?" + form("status", "username", acct).Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<result>0</result>") || !strings.Contains(string(body), "POST") {
		t.Errorf("GET answered %d %q", resp.StatusCode, body)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	t.Run("combined status", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *Options) { o.CombinedStatus = true })
		u := b.create(t).User
		b.post(t, form("update_account", "username", u, "update_status", "disable"))
		if st := b.post(t, form("status", "username", u)); st.Status != "Disabled:March 2, 2025" || st.Expiry != "" {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("alternative spellings", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *Options) { o.AlternativeSpellings = true })
		u := b.create(t).User
		if r := b.post(t, form("update_status", "user", u, "update_status", "disable")); r.Result != "1" {
			t.Errorf("update_status: %+v", r)
		}
		if r := b.post(t, form("delete", "user", u)); r.Result != "1" {
			t.Errorf("delete: %+v", r)
		}
		if len(b.sim.Accounts()) != 0 {
			t.Error("not deleted")
		}
	})
	t.Run("period required everywhere", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *Options) { o.RequirePeriod = true })
		u := b.create(t).User
		if r := b.post(t, form("status", "username", u)); r.Result != "0" || r.Message != "Invalid period" {
			t.Errorf("status without period: %+v", r)
		}
		if r := b.post(t, form("status", "username", u, "period", "#90")); r.Result != "1" {
			t.Errorf("status with period: %+v", r)
		}
	})
	t.Run("allow list", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *Options) { o.AllowIPs = []string{"192.0.2.1", "10.0.0.0/8"} })
		if r := b.post(t, form("create", "package_type", "STANDARD", "period", "#30")); r.Result != "0" || !strings.Contains(r.Message, "IP address") {
			t.Errorf("from a caller not allowed: %+v", r)
		}
		b2 := setup(t, func(o *Options) { o.AllowIPs = []string{"127.0.0.0/8"} })
		b2.create(t)
	})
	t.Run("reject credentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.RejectCredentials(true)
		if r := b.post(t, form("create", "package_type", "STANDARD", "period", "#30")); r.Result != "0" || !strings.Contains(r.Message, "Authentication failed") {
			t.Errorf("%+v", r)
		}
		b.sim.RejectCredentials(false)
		b.create(t)
	})
	t.Run("echo request", func(t *testing.T) {
		t.Parallel()
		b := setup(t, func(o *Options) { o.EchoRequest = true })
		r := b.post(t, form("status", "username", "nobody"))
		if !strings.Contains(r.Message, "api_password=") || !strings.Contains(r.Message, "username=nobody") {
			t.Errorf("%+v", r)
		}
	})
}

func TestFaults(t *testing.T) {
	t.Parallel()
	// raw posts v and returns the answer's status, header and body.
	type answer struct {
		status int
		header http.Header
		body   string
	}
	raw := func(t *testing.T, b *bundle, v url.Values) (answer, error) {
		t.Helper()
		resp, err := b.http.PostForm(b.srv.URL, v)
		if err != nil {
			return answer{}, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, string(body)}, nil
	}
	createForm := form("create", "package_type", "HIGH-BW", "period", "#90")

	t.Run("fail", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.FailNext(2, http.StatusBadGateway)
		for range 2 {
			if ans, err := raw(t, b, createForm); err != nil || ans.status != http.StatusBadGateway {
				t.Fatalf("%+v %v", ans, err)
			}
		}
		if len(b.sim.Accounts()) != 0 {
			t.Error("a failed call took effect")
		}
		b.create(t)
		if b.sim.Calls("create") != 3 {
			t.Errorf("%d calls", b.sim.Calls("create"))
		}
	})
	t.Run("throttle", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.ThrottleNext(1, 1500*time.Millisecond)
		ans, err := raw(t, b, createForm)
		if err != nil || ans.status != http.StatusTooManyRequests || ans.header.Get("Retry-After") != "2" {
			t.Fatalf("%+v %v", ans, err)
		}
		if len(b.sim.Accounts()) != 0 {
			t.Error("a throttled call took effect")
		}
		b.create(t)
	})
	t.Run("not XML", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.NotXMLNext(1)
		ans, err := raw(t, b, createForm)
		if err != nil || ans.status != 200 || !strings.HasPrefix(ans.header.Get("Content-Type"), "text/html") {
			t.Fatalf("%+v %v", ans, err)
		}
		if err := xml.NewDecoder(strings.NewReader(ans.body)).Decode(new(reply)); err == nil {
			t.Errorf("the error page %q decodes as strict XML", ans.body)
		}
		if len(b.sim.Accounts()) != 0 {
			t.Error("the call took effect")
		}
	})
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.DropNext(1)
		_, err := raw(t, b, createForm)
		if err == nil || !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("dropped call answered: %v", err)
		}
		if accts := b.sim.Accounts(); len(accts) != 1 || accts[0].PackageType != "HIGH-BW" {
			t.Errorf("the dropped call did not take effect once: %+v", accts)
		}
		b.create(t)
	})
	t.Run("truncate", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.TruncateNext(1)
		ans, err := raw(t, b, createForm)
		if err != nil || ans.status != 200 {
			t.Fatalf("%+v %v", ans, err)
		}
		body := ans.body
		accts := b.sim.Accounts()
		if len(accts) != 1 {
			t.Fatalf("%d accounts", len(accts))
		}
		if !strings.Contains(body, "<vpn_password>"+accts[0].Password[:4]) || strings.Contains(body, accts[0].Password) || strings.Contains(body, "<result>") {
			t.Errorf("truncated answer %q", body)
		}
	})
	t.Run("latency", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.sim.SetLatency(time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL, strings.NewReader(createForm.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := b.http.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("answered before the latency")
		}
		b.sim.SetLatency(0)
		// The call the client gave up on still takes effect, as on a real server.
		deadline := time.Now().Add(30 * time.Second)
		for len(b.sim.Accounts()) == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if len(b.sim.Accounts()) != 1 {
			t.Error("the abandoned create did not take effect")
		}
	})
}

func TestCallLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.create(t).User
	b.post(t, form("status", "username", u))
	b.post(t, form("status", "username", u, "api_password", "wrong"))
	b.post(t, form("nonsense"))
	if b.sim.Calls("status") != 2 || b.sim.Calls("create") != 1 || b.sim.Calls("nonsense") != 1 || b.sim.Calls("renew") != 0 {
		t.Errorf("calls: status %d create %d nonsense %d", b.sim.Calls("status"), b.sim.Calls("create"), b.sim.Calls("nonsense"))
	}
	log := b.sim.CallLog()
	if len(log) != 4 {
		t.Fatalf("%d records", len(log))
	}
	for _, rec := range log {
		if rec.Params.Has("api_password") {
			t.Errorf("%s record holds api_password", rec.Method)
		}
		if !rec.At.Equal(b.clock.Now()) {
			t.Errorf("record at %v", rec.At)
		}
	}
	if log[0].Method != "create" || log[0].Params.Get("package_type") != "STANDARD" || log[1].Params.Get("username") != u {
		t.Errorf("log %+v", log)
	}
	log[0].Params.Set("package_type", "changed")
	if b.sim.CallLog()[0].Params.Get("package_type") != "STANDARD" {
		t.Error("CallLog returned the simulator's own map")
	}
}

func TestConcurrentFaultsAndInspection(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			switch i % 4 {
			case 0:
				b.sim.FailNext(1, 503)
				b.sim.ThrottleNext(0, time.Second)
			case 1:
				b.sim.DropNext(0)
				b.sim.NotXMLNext(0)
				b.sim.SetLatency(0)
			case 2:
				_ = b.sim.Accounts()
				_ = b.sim.CallLog()
				_ = b.sim.Calls("create")
			}
			resp, err := b.http.PostForm(b.srv.URL, form("create", "package_type", "SSTP", "period", "#30"))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := b.sim.Calls("create"); n != 8 {
		t.Errorf("%d calls, want 8", n)
	}
	if n := len(b.sim.Accounts()); n > 8 {
		t.Errorf("%d accounts from 8 creates", n)
	}
}
