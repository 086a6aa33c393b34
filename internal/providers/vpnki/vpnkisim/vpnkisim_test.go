package vpnkisim_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const key = "sim+key/1"

type bundle struct {
	sim *vpnkisim.Sim
	srv *httptest.Server
	now time.Time
}

func setup(t *testing.T) *bundle {
	t.Helper()
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	sim := vpnkisim.New(vpnkisim.Options{Key: key, Address: "spb.vpnki.ru", Now: func() time.Time { return now }})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &bundle{sim: sim, srv: srv, now: now}
}

// get requests resource with params over HTTP and returns status and body.
func (b *bundle) get(t *testing.T, path string, params url.Values) (int, http.Header, string) {
	t.Helper()
	q := url.Values{"option": {"com_api"}, "format": {"raw"}, "app": {"webservices"}, "key": {key}}
	for k, v := range params {
		q[k] = v
	}
	resp, err := b.srv.Client().Get(b.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func (b *bundle) api(t *testing.T, resource string, params ...string) string {
	t.Helper()
	v := url.Values{"resource": {resource}}
	for i := 0; i+1 < len(params); i += 2 {
		v.Set(params[i], params[i+1])
	}
	status, _, body := b.get(t, "/index.php", v)
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", resource, status, body)
	}
	return body
}

func TestDocumentedAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if got := b.api(t, "tunnels"); got != `[]` {
		t.Errorf("tunnels on an empty account = %s", got)
	}
	var added map[string]string
	if err := json.Unmarshal([]byte(b.api(t, "add_tunnel")), &added); err != nil {
		t.Fatal(err)
	}
	if added["comment"] != "user101" || added["login"] != "user101" || added["vpnki_address"] != "spb.vpnki.ru" || len(added["password"]) != 8 {
		t.Errorf("add_tunnel = %v", added)
	}
	held, ok := b.sim.Tunnel("user101")
	if !ok || held.Password != added["password"] || !held.Created.Equal(b.now) {
		t.Errorf("the simulator holds %+v, %v", held, ok)
	}
	if got, want := b.api(t, "tunnels"), `[{"tunnel":"user101","login":"user101","comment":"user101","vpnki_address":"spb.vpnki.ru","created":"2024-03-01 12-00-00"}]`; got != want {
		t.Errorf("tunnels = %s\nwant %s", got, want)
	}
	if err := b.sim.Connect("user101", "10.1.1.1"); err != nil {
		t.Fatal(err)
	}
	if got, want := b.api(t, "active"), `[{"tunnel":"user101","ip":"10.1.1.1","since":"2024-03-01 12-00-00"}]`; got != want {
		t.Errorf("active = %s\nwant %s", got, want)
	}
	if err := b.sim.Disconnect("user101", 10, 20); err != nil {
		t.Fatal(err)
	}
	wantStat := `[{"tunnel":"user101","start":"2024-03-01 12-00-00","end":"2024-03-01 12-00-00","bytes_in":10,"bytes_out":20}]`
	if got := b.api(t, "stat_user", "ts", "0000-00-00 00-00-00", "te", "NOW"); got != wantStat {
		t.Errorf("stat_user = %s\nwant %s", got, wantStat)
	}
	if got := b.api(t, "stat_tunnel", "tunnel", "user101", "ts", "2024-03-01 00-00-00", "te", "2024-03-02 00-00-00"); got != wantStat {
		t.Errorf("stat_tunnel = %s\nwant %s", got, wantStat)
	}
	if got := b.api(t, "stat_user", "ts", "2024-03-02 00-00-00", "te", "NOW"); got != `[]` {
		t.Errorf("stat_user after the session = %s", got)
	}
	if got := b.api(t, "del_tunnel", "tunnel", "user101"); got != `{"status":"OK"}` {
		t.Errorf("del_tunnel = %s", got)
	}
	if got := b.api(t, "del_tunnel", "tunnel", "user101"); got != `{"del error":"tunnel user101 not found"}` {
		t.Errorf("del_tunnel again = %s", got)
	}
	if n := len(b.sim.Tunnels()); n != 0 {
		t.Errorf("%d tunnels after delete", n)
	}
	// The language form of the endpoint is served too.
	if status, _, body := b.get(t, "/index.php/en/", url.Values{"resource": {"tunnels"}}); status != http.StatusOK || body != `[]` {
		t.Errorf("/index.php/en/ = %d %s", status, body)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.api(t, "add_tunnel")
	cases := []struct {
		name   string
		params url.Values
		want   string
	}{
		{"wrong key", url.Values{"resource": {"tunnels"}, "key": {"nope"}}, `{"error":"Wrong key"}`},
		{"no key", url.Values{"resource": {"tunnels"}, "key": {""}}, `{"error":"Wrong key"}`},
		{"unknown resource", url.Values{"resource": {"tunnelz"}}, `{"error":"Unknown resource"}`},
		{"bad ts", url.Values{"resource": {"stat_user"}, "ts": {"2024-03-01 00:00:00"}, "te": {"NOW"}}, `{"error":"Wrong date format"}`},
		{"missing te", url.Values{"resource": {"stat_user"}, "ts": {"2024-03-01 00-00-00"}}, `{"error":"Wrong date format"}`},
		{"unknown tunnel stats", url.Values{"resource": {"stat_tunnel"}, "tunnel": {"user9"}, "ts": {"0000-00-00 00-00-00"}, "te": {"NOW"}}, `{"error":"Unknown tunnel user9"}`},
		{"no tunnel", url.Values{"resource": {"del_tunnel"}}, `{"del error":"No tunnel name"}`},
	}
	for _, tc := range cases {
		status, _, body := b.get(t, "/index.php", tc.params)
		if status != http.StatusOK || body != tc.want {
			t.Errorf("%s: HTTP %d %s; want 200 %s", tc.name, status, body, tc.want)
		}
	}

	b.sim.SetPriority(false)
	for _, r := range []string{"add_tunnel", "del_tunnel"} {
		if got := b.api(t, r, "tunnel", "user101"); !strings.Contains(got, "Priority status") || !strings.Contains(got, `"message"`) {
			t.Errorf("%s without Priority = %s", r, got)
		}
	}
	if got := b.api(t, "tunnels"); !strings.Contains(got, "user101") {
		t.Errorf("tunnels needs no Priority; got %s", got)
	}
	if _, ok := b.sim.Tunnel("user101"); !ok || len(b.sim.Tunnels()) != 1 {
		t.Error("a refused call changed the tunnels")
	}
	b.sim.SetPriority(true)
	b.sim.RejectKey(true)
	if got := b.api(t, "tunnels"); got != `{"error":"Wrong key"}` {
		t.Errorf("RejectKey: tunnels = %s", got)
	}

	// Outside the API: not GET, a wrong component, a wrong path.
	resp, err := b.srv.Client().Post(b.srv.URL+"/index.php?option=com_api&format=raw&app=webservices&resource=tunnels", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = HTTP %d; want 405", resp.StatusCode)
	}
	if status, _, _ := b.get(t, "/index.php", url.Values{"option": {"com_content"}, "resource": {"tunnels"}}); status != http.StatusNotFound {
		t.Errorf("option=com_content = HTTP %d; want 404", status)
	}
	if status, _, _ := b.get(t, "/api.php", url.Values{"resource": {"tunnels"}}); status != http.StatusNotFound {
		t.Errorf("/api.php = HTTP %d; want 404", status)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tunnels := url.Values{"resource": {"tunnels"}}

	b.sim.FailNext(2, http.StatusBadGateway)
	for i := 0; i < 2; i++ {
		if status, _, body := b.get(t, "/index.php", tunnels); status != http.StatusBadGateway || strings.Contains(body, "[") {
			t.Errorf("FailNext: HTTP %d %s", status, body)
		}
	}
	b.sim.ThrottleNext(1, 1500*time.Millisecond)
	if status, h, _ := b.get(t, "/index.php", tunnels); status != http.StatusTooManyRequests || h.Get("Retry-After") != "2" {
		t.Errorf("ThrottleNext: HTTP %d Retry-After %q; want 429 and 2", status, h.Get("Retry-After"))
	}
	b.sim.NotJSONNext(1)
	if status, _, body := b.get(t, "/index.php", url.Values{"resource": {"add_tunnel"}}); status != http.StatusOK || json.Valid([]byte(body)) || !strings.Contains(body, `"login":"user101"`) {
		t.Errorf("NotJSONNext: HTTP %d %s", status, body)
	}
	if _, ok := b.sim.Tunnel("user101"); !ok {
		t.Error("NotJSONNext did not commit the tunnel")
	}

	b.sim.DropNext(1)
	q := url.Values{"option": {"com_api"}, "format": {"raw"}, "app": {"webservices"}, "key": {key}, "resource": {"add_tunnel"}}
	// A fresh connection: on a reused one Go's transport would re-send the
	// GET by itself, which is why the client sends add_tunnel so.
	fresh := b.srv.Client().Transport.(*http.Transport).Clone()
	fresh.DisableKeepAlives = true
	resp, err := (&http.Client{Transport: fresh}).Get(b.srv.URL + "/index.php?" + q.Encode())
	if err == nil {
		resp.Body.Close()
		t.Fatalf("DropNext: got HTTP %d; want no answer", resp.StatusCode)
	}
	if _, ok := b.sim.Tunnel("user102"); !ok {
		t.Error("DropNext did not commit the tunnel before dropping")
	}
	if status, _, _ := b.get(t, "/index.php", tunnels); status != http.StatusOK {
		t.Errorf("after the faults: HTTP %d", status)
	}

	if got := b.sim.Calls("tunnels"); got != 4 {
		t.Errorf("Calls(tunnels) = %d; want 4, failures included", got)
	}
	if got := b.sim.Calls("add_tunnel"); got != 2 {
		t.Errorf("Calls(add_tunnel) = %d; want 2", got)
	}
	if n := len(b.sim.Tunnels()); n != 2 {
		t.Errorf("%d tunnels; want 2", n)
	}
	for _, c := range b.sim.CallLog() {
		if c.Params.Has("key") {
			t.Errorf("CallLog keeps the key: %v", c.Params)
		}
		if c.Params.Get("resource") != c.Resource {
			t.Errorf("CallLog entry %+v", c)
		}
	}
}

func TestLatencyGivesUpWithTheClient(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.sim.SetLatency(time.Hour)
	client := &http.Client{Transport: b.srv.Client().Transport, Timeout: 200 * time.Millisecond}
	resp, err := client.Get(b.srv.URL + "/index.php?option=com_api&format=raw&app=webservices&resource=tunnels&key=" + url.QueryEscape(key))
	if err == nil {
		resp.Body.Close()
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Errorf("a request during an hour of latency = %v; want the client's timeout", err)
	}
	// srv.Close in Cleanup returns only if the handler gave up too.
}

func TestHelpersAndConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if err := b.sim.Connect("user1", "10.0.0.1"); err == nil {
		t.Error("Connect of an unknown tunnel succeeded")
	}
	if err := b.sim.Disconnect("user1", 0, 0); err == nil {
		t.Error("Disconnect of an unconnected tunnel succeeded")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.sim.SetLatency(0)
			b.sim.FailNext(0, 0)
			_ = b.sim.Tunnels()
			_ = b.sim.CallLog()
			b.api(t, "add_tunnel")
		}()
	}
	wg.Wait()
	list := b.sim.Tunnels()
	if len(list) != 8 || b.sim.Calls("add_tunnel") != 8 {
		t.Fatalf("%d tunnels, %d calls; want 8", len(list), b.sim.Calls("add_tunnel"))
	}
	seen := map[string]bool{}
	for _, tun := range list {
		if seen[tun.Name] || !strings.HasPrefix(tun.Name, "user") || len(tun.Password) != 8 {
			t.Errorf("tunnel %+v is a duplicate or malformed", tun)
		}
		seen[tun.Name] = true
	}
	if list[0].Name != "user101" || list[7].Name != "user108" {
		t.Errorf("tunnels are not in creation order: %v … %v", list[0].Name, list[7].Name)
	}
	list[0].Password = "changed"
	if got, _ := b.sim.Tunnel("user101"); got.Password == "changed" {
		t.Error("Tunnels returned the simulator's own state, not copies")
	}
}
