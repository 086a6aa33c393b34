package ingest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
)

const buyPlans = `
plans:
  - id: std-monthly
    name: Standard VPN, monthly
    provider: purevpn
    stripe_prices: [price_1StdMonthly]
  - id: std-yearly
    provider: purevpn
    stripe_prices: [std_yearly_eur]
  - id: pass-30
    provider: purevpn
    stripe_prices: [price_1Pass30]
    price: {amount: 499, currency: eur, one_off: true}
`

const buyKey = "sk_test_buyTestKeyNeverShown0123"

// stripeRequest is one request that reached stripe-mock.
type stripeRequest struct {
	method, path string
	form         url.Values
}

// buyBundle is the checkout handler in front of stripe-mock, behind a proxy
// that records what vpnbill asked Stripe, or fails it.
type buyBundle struct {
	h    http.Handler
	mu   sync.Mutex
	reqs []stripeRequest
	fail bool // the proxy answers 500 for Stripe
	now  time.Time
}

func setupBuy(t *testing.T, tune func(*ingest.CheckoutConfig)) *buyBundle {
	t.Helper()
	mock, err := url.Parse(harness.StripeMock(t))
	if err != nil {
		t.Fatal(err)
	}
	b := &buyBundle{now: time.Date(2031, 3, 14, 12, 0, 0, 0, time.UTC)}
	rp := httputil.NewSingleHostReverseProxy(mock)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("stripe request: %v", err)
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, stripeRequest{r.Method, r.URL.Path, r.Form})
		fail := b.fail
		b.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"key ` + buyKey + ` broke"}}`))
			return
		}
		// ParseForm read the body: send the form on again.
		body := r.PostForm.Encode()
		r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	plans, _ := harness.Plans(t, buyPlans)
	cfg := ingest.CheckoutConfig{
		Plans: plans, APIKey: buyKey, APIURL: proxy.URL,
		SuccessURL: "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}", CancelURL: "https://shop.example/plans",
		Now: func() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.now },
	}
	if tune != nil {
		tune(&cfg)
	}
	c, err := ingest.NewCheckout(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Served as the webhook serves it: through the endpoint's mux.
	b.h = ingest.New(ingest.Config{Checkout: c}, nil, nil, nil, nil)
	return b
}

func (b *buyBundle) get(target string) *httptest.ResponseRecorder {
	return b.do(http.MethodGet, target, "192.0.2.1:5555")
}

func (b *buyBundle) do(method, target, remote string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// sessions are the Checkout Sessions vpnbill asked Stripe to create.
func (b *buyBundle) sessions() []url.Values {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []url.Values
	for _, r := range b.reqs {
		if r.method == http.MethodPost && r.path == "/v1/checkout/sessions" {
			out = append(out, r.form)
		}
	}
	return out
}

func TestBuyRedirectsToCheckout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, target string
		want         map[string]string // form fields of the session created; "" absent
		lookup       string            // a lookup key read first
	}{
		{name: "subscription by price id", target: "/buy/std-monthly?email=ann@example.com&locale=de",
			want: map[string]string{"mode": "subscription", "line_items[0][price]": "price_1StdMonthly", "line_items[0][quantity]": "1",
				"metadata[plan]": "std-monthly", "subscription_data[metadata][plan]": "std-monthly",
				"customer_email": "ann@example.com", "locale": "de",
				"success_url": "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}", "cancel_url": "https://shop.example/plans"}},
		{name: "subscription by lookup key", target: "/buy/std-yearly", lookup: "std_yearly_eur",
			want: map[string]string{"mode": "subscription", "metadata[plan]": "std-yearly", "customer_email": "", "locale": ""}},
		{name: "one-off plan", target: "/buy/pass-30",
			want: map[string]string{"mode": "payment", "line_items[0][price]": "price_1Pass30", "metadata[plan]": "pass-30",
				"subscription_data[metadata][plan]": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setupBuy(t, nil)
			rec := b.get(tc.target)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("answered %d %q, want 303", rec.Code, rec.Body.String())
			}
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || loc.Scheme != "https" || loc.Host == "" {
				t.Errorf("Location %q is not the session's page", rec.Header().Get("Location"))
			}
			got := b.sessions()
			if len(got) != 1 {
				t.Fatalf("%d sessions created, want 1", len(got))
			}
			for k, v := range tc.want {
				if got[0].Get(k) != v {
					t.Errorf("session %s = %q, want %q", k, got[0].Get(k), v)
				}
			}
			if tc.lookup != "" {
				b.mu.Lock()
				first := b.reqs[0]
				b.mu.Unlock()
				if first.path != "/v1/prices" || first.form.Get("lookup_keys[0]") != tc.lookup {
					t.Errorf("first Stripe request %s %s %v, want the prices of lookup key %s", first.method, first.path, first.form, tc.lookup)
				}
				if p := got[0].Get("line_items[0][price]"); !strings.HasPrefix(p, "price_") {
					t.Errorf("session's price %q is not the price id read", p)
				}
			}
		})
	}
}

func TestBuyRefusals(t *testing.T) {
	t.Parallel()
	b := setupBuy(t, nil)
	n := 0
	for _, tc := range []struct {
		method, target string
		code           int
	}{
		{http.MethodGet, "/buy/no-such-plan", http.StatusNotFound},
		{http.MethodGet, "/buy/std-monthly/extra", http.StatusNotFound},
		{http.MethodPost, "/buy/std-monthly", http.StatusMethodNotAllowed},
		{http.MethodHead, "/buy/std-monthly", http.StatusMethodNotAllowed},
		{http.MethodGet, "/buy/std-monthly?email=Ann+%3Cann@example.com%3E", http.StatusBadRequest},
		{http.MethodGet, "/buy/std-monthly?email=nope", http.StatusBadRequest},
		{http.MethodGet, "/buy/std-monthly?locale=../x", http.StatusBadRequest},
	} {
		// Each from its own address, so the rate limit is not what answers.
		n++
		rec := b.do(tc.method, tc.target, fmt.Sprintf("198.51.100.%d:1", n))
		if rec.Code != tc.code {
			t.Errorf("%s %s answered %d %q, want %d", tc.method, tc.target, rec.Code, rec.Body.String(), tc.code)
		}
		if tc.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodGet {
			t.Errorf("%s %s: Allow %q", tc.method, tc.target, rec.Header().Get("Allow"))
		}
	}
	if n := len(b.sessions()); n != 0 {
		t.Errorf("refused requests created %d sessions", n)
	}
}

func TestBuyStripeFails(t *testing.T) {
	t.Parallel()
	b := setupBuy(t, nil)
	b.mu.Lock()
	b.fail = true
	b.mu.Unlock()
	rec := b.get("/buy/std-monthly?email=ann@example.com")
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("answered %d %q, want 502", rec.Code, rec.Body.String())
	}
	body := rec.Body.String()
	if !strings.Contains(body, "could not be opened") || strings.Contains(body, buyKey) || strings.Contains(body, "broke") {
		t.Errorf("502 body %q: want a clear message naming nothing of Stripe's answer", body)
	}
	if rec.Header().Get("Location") != "" {
		t.Errorf("a failed checkout redirects to %q", rec.Header().Get("Location"))
	}
}

func TestBuyRateLimitPerClient(t *testing.T) {
	t.Parallel()
	b := setupBuy(t, func(c *ingest.CheckoutConfig) { c.Burst, c.PerMinute = 2, 6 })
	for i := range 2 {
		if rec := b.get("/buy/std-monthly"); rec.Code != http.StatusSeeOther {
			t.Fatalf("request %d answered %d", i+1, rec.Code)
		}
	}
	rec := b.get("/buy/std-monthly")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third request answered %d (Retry-After %q), want 429", rec.Code, rec.Header().Get("Retry-After"))
	}
	if rec := b.do(http.MethodGet, "/buy/std-monthly", "192.0.2.99:1"); rec.Code != http.StatusSeeOther {
		t.Errorf("another client answered %d, want 303", rec.Code)
	}
	b.mu.Lock()
	b.now = b.now.Add(10 * time.Second) // one link a 10 s at 6 a minute
	b.mu.Unlock()
	if rec := b.get("/buy/std-monthly"); rec.Code != http.StatusSeeOther {
		t.Errorf("after 10s answered %d, want 303", rec.Code)
	}
	if n := len(b.sessions()); n != 4 {
		t.Errorf("%d sessions created, want 4", n)
	}
}

func TestBuyConfig(t *testing.T) {
	t.Parallel()
	plans, _ := harness.Plans(t, buyPlans)
	_, err := ingest.NewCheckout(ingest.CheckoutConfig{Plans: plans, SuccessURL: "/thanks", CancelURL: "ftp://x"}, nil)
	for _, want := range []string{"STRIPE_API_KEY", "CHECKOUT_SUCCESS_URL", "CHECKOUT_CANCEL_URL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewCheckout = %v, want it to name %s", err, want)
		}
	}
}

func TestBuyAbsentUnlessConfigured(t *testing.T) {
	t.Parallel()
	h := ingest.New(ingest.Config{}, nil, nil, nil, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/buy/std-monthly", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without checkout links /buy/ answered %d, want 404", rec.Code)
	}
}
