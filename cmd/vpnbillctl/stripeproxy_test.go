package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/harness"
)

// stripeProxy stands in front of stripe-mock for vpnbillctl's Stripe
// commands. Every request goes on to stripe-mock, which checks it against
// Stripe's OpenAPI spec and answers with its fixtures; the proxy records
// the request and stripe-mock's status. stripe-mock keeps no state, so for
// the objects `stripe setup` and `doctor` look for — webhook endpoints,
// products, prices — the proxy keeps them: what was created (stripe-mock's
// answer with the request's fields), updated or deleted, plus what the test
// seeds, and answers reads from that. Whether running a command twice
// changes nothing is told by the requests it sends.
type stripeProxy struct {
	t    *testing.T
	mock string // stripe-mock's base URL
	URL  string // the proxy's, for STRIPE_API_URL

	mu        sync.Mutex
	requests  []stripeRequest
	endpoints []map[string]any
	products  []map[string]any
	prices    []map[string]any
	// secret is added to a created endpoint's answer, as Stripe does.
	secret string
	// dateOffset shifts every answer's Date header (clock skew).
	dateOffset time.Duration
	// faults answers requests whose path has one of these prefixes with
	// that status and a Stripe error, without asking stripe-mock.
	faults map[string]int
	nextID int
}

// stripeRequest is one request the proxy received.
type stripeRequest struct {
	Method, Path string
	Form         url.Values // query and body
	MockStatus   int        // stripe-mock's answer; 0 if it was not asked
}

func (r stripeRequest) String() string { return r.Method + " " + r.Path }

func newStripeProxy(t *testing.T) *stripeProxy {
	t.Helper()
	p := &stripeProxy{t: t, mock: harness.StripeMock(t), faults: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// writes returns the requests that change something (POST, DELETE) from
// the i-th request on.
func (p *stripeProxy) writes(from int) []stripeRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []stripeRequest
	for _, r := range p.requests[from:] {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

func (p *stripeProxy) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// invalid returns the requests stripe-mock refused with 400: a request
// Stripe's spec does not allow.
func (p *stripeProxy) invalid() []stripeRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []stripeRequest
	for _, r := range p.requests {
		if r.MockStatus == http.StatusBadRequest {
			out = append(out, r)
		}
	}
	return out
}

func (p *stripeProxy) id(prefix string) string {
	p.nextID++
	return fmt.Sprintf("%s_proxy%d", prefix, p.nextID)
}

// addEndpoint seeds a webhook endpoint.
func (p *stripeProxy) addEndpoint(u, version, status string, events ...string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := p.id("we")
	var v any
	if version != "" {
		v = version
	}
	p.endpoints = append(p.endpoints, map[string]any{"object": "webhook_endpoint", "id": id, "url": u, "api_version": v,
		"status": status, "enabled_events": events, "livemode": false, "metadata": map[string]any{}})
	return id
}

// addPrice seeds a price (and its product, if new); interval "" is one_time.
func (p *stripeProxy) addPrice(id, lookupKey, productID string, amount int64, currency, interval string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !slices.ContainsFunc(p.products, func(o map[string]any) bool { return o["id"] == productID }) {
		p.products = append(p.products, map[string]any{"object": "product", "id": productID, "name": productID, "active": true,
			"metadata": map[string]any{}})
	}
	pr := map[string]any{"object": "price", "id": id, "product": productID, "unit_amount": amount, "currency": currency,
		"active": true, "livemode": false, "metadata": map[string]any{}, "type": "one_time", "recurring": nil}
	if lookupKey != "" {
		pr["lookup_key"] = lookupKey
	}
	if interval != "" {
		pr["type"], pr["recurring"] = "recurring", map[string]any{"interval": interval, "interval_count": 1}
	}
	p.prices = append(p.prices, pr)
}

var objectPath = regexp.MustCompile(`^/v1/(webhook_endpoints|products|prices)(?:/([^/]+))?$`)

func (p *stripeProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	for k, v := range r.URL.Query() {
		form[k] = append(form[k], v...)
	}
	req := stripeRequest{Method: r.Method, Path: r.URL.Path, Form: form}
	p.mu.Lock()
	offset := p.dateOffset
	var fault int
	for prefix, status := range p.faults {
		if strings.HasPrefix(r.URL.Path, prefix) {
			fault = status
		}
	}
	p.mu.Unlock()
	w.Header().Set("Date", time.Now().Add(offset).UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	if fault != 0 {
		p.record(req)
		w.WriteHeader(fault)
		_, _ = fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"The provided key 'rk_test_***' does not have the required permissions (injected by the test)."}}`)
		return
	}

	status, answer := p.forward(r, body)
	req.MockStatus = status
	p.record(req)
	if status == http.StatusOK {
		if m := objectPath.FindStringSubmatch(r.URL.Path); m != nil {
			status, answer = p.overlay(r.Method, m[1], m[2], form, answer)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

func (p *stripeProxy) record(req stripeRequest) {
	p.mu.Lock()
	p.requests = append(p.requests, req)
	p.mu.Unlock()
}

func (p *stripeProxy) forward(r *http.Request, body []byte) (int, []byte) {
	req, err := http.NewRequest(r.Method, p.mock+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		p.t.Errorf("stripe proxy: %v", err)
		return http.StatusBadGateway, nil
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Errorf("stripe proxy: stripe-mock: %v", err)
		return http.StatusBadGateway, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, answer
}

// overlay answers a request about a kept object from what the proxy keeps;
// mockAnswer is stripe-mock's answer to it.
func (p *stripeProxy) overlay(method, kind, id string, form url.Values, mockAnswer []byte) (int, []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := map[string]*[]map[string]any{"webhook_endpoints": &p.endpoints, "products": &p.products, "prices": &p.prices}[kind]
	find := func() (int, map[string]any) {
		for i, o := range *list {
			if o["id"] == id {
				return i, o
			}
		}
		return -1, nil
	}
	switch {
	case method == http.MethodGet && id == "":
		var data []map[string]any
		keys := indexed(form, "lookup_keys")
		for _, o := range *list {
			if len(keys) == 0 || slices.Contains(keys, fmt.Sprint(o["lookup_key"])) {
				data = append(data, o)
			}
		}
		return p.json(map[string]any{"object": "list", "url": "/v1/" + kind, "has_more": false, "data": orEmpty(data)})
	case method == http.MethodGet:
		if _, o := find(); o != nil {
			return p.json(o)
		}
		return p.missing(kind, id)
	case method == http.MethodPost && id == "":
		var o map[string]any
		if err := json.Unmarshal(mockAnswer, &o); err != nil {
			p.t.Errorf("stripe proxy: stripe-mock's answer: %v", err)
		}
		o["id"] = p.id(map[string]string{"webhook_endpoints": "we", "products": "prod", "prices": "price"}[kind])
		o["metadata"] = map[string]any{}
		apply(kind, o, form)
		*list = append(*list, o)
		answer := maps.Clone(o)
		if kind == "webhook_endpoints" && p.secret != "" {
			answer["secret"] = p.secret
		}
		return p.json(answer)
	case method == http.MethodPost:
		_, o := find()
		if o == nil {
			return p.missing(kind, id)
		}
		apply(kind, o, form)
		return p.json(o)
	case method == http.MethodDelete:
		i, o := find()
		if o == nil {
			return p.missing(kind, id)
		}
		*list = slices.Delete(*list, i, i+1)
		return p.json(map[string]any{"id": id, "object": o["object"], "deleted": true})
	}
	return http.StatusOK, mockAnswer
}

// apply sets the fields a create or update request gives on o.
func apply(kind string, o map[string]any, form url.Values) {
	for k, v := range form {
		if strings.HasPrefix(k, "metadata[") {
			o["metadata"].(map[string]any)[strings.TrimSuffix(strings.TrimPrefix(k, "metadata["), "]")] = v[0]
		}
	}
	for _, f := range []string{"url", "name", "lookup_key", "currency", "product", "nickname", "api_version"} {
		if v := form.Get(f); v != "" {
			o[f] = v
		}
	}
	if v := form.Get("unit_amount"); v != "" {
		var n int64
		_, _ = fmt.Sscan(v, &n)
		o["unit_amount"] = n
	}
	if ev := indexed(form, "enabled_events"); len(ev) > 0 {
		o["enabled_events"] = ev
	}
	switch form.Get("disabled") {
	case "true":
		o["status"] = "disabled"
	case "false":
		o["status"] = "enabled"
	}
	if kind == "prices" && form.Get("unit_amount") != "" {
		o["active"], o["type"], o["recurring"] = true, "one_time", nil
		if iv := form.Get("recurring[interval]"); iv != "" {
			var n int64 = 1
			_, _ = fmt.Sscan(form.Get("recurring[interval_count]"), &n)
			o["type"], o["recurring"] = "recurring", map[string]any{"interval": iv, "interval_count": n}
		}
	}
}

// indexed returns the values of an array parameter, name[0]=…&name[1]=…
// (stripe-go's encoding) or name[]=….
func indexed(form url.Values, name string) []string {
	var keys []string
	for k := range form {
		if strings.HasPrefix(k, name+"[") {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	var out []string
	for _, k := range keys {
		out = append(out, form[k]...)
	}
	return out
}

func orEmpty(data []map[string]any) []map[string]any {
	if data == nil {
		return []map[string]any{}
	}
	return data
}

func (p *stripeProxy) json(v any) (int, []byte) {
	data, err := json.Marshal(v)
	if err != nil {
		p.t.Errorf("stripe proxy: %v", err)
	}
	return http.StatusOK, data
}

func (p *stripeProxy) missing(kind, id string) (int, []byte) {
	return http.StatusNotFound, fmt.Appendf(nil, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such %s: '%s'"}}`, kind, id)
}
