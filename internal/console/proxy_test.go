package console_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/console"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ops"
)

// With a trusted proxy header, a request carrying it is that user's (with
// the configured role) and gets a session for its CSRF token; one without
// it is signed out.
func TestProxyUserHeader(t *testing.T) {
	t.Parallel()
	ns := harness.NATS(t)
	_, js := harness.Connect(t, ns, t.Name())
	harness.Topology(t, js, events.Config{})
	c, err := console.New(console.Config{SessionKey: bytes.Repeat([]byte{3}, 32), ProxyUserHeader: "X-Forwarded-User",
		ProxyRole: console.RoleFinance}, &ops.Ops{JS: js}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	b := &bundle{url: srv.URL}
	cl := b.client(t)
	if status, _ := b.get(t, cl, "/"); status != http.StatusSeeOther {
		t.Errorf("without the header: %d, want 303 to the sign-in page", status)
	}
	if _, page := b.get(t, cl, "/signin"); strings.Contains(page, `type="password"`) {
		t.Error("with no password users, the sign-in page asks for a password")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("X-Forwarded-User", "fiona")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), "fiona (finance)") {
		t.Fatalf("with the header: %d, want the overview as fiona (finance)", resp.StatusCode)
	}
	m := csrfField.FindStringSubmatch(body.String())
	if m == nil {
		t.Fatal("no CSRF token for the proxy's user")
	}
	form := url.Values{"csrf": {m[1]}, "why": {"x"}}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/dead/1/drop", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-User", "fiona")
	resp, err = cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a finance proxy user's action: %d, want 403", resp.StatusCode)
	}
}
