package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// signature is the Stripe-Signature header of body signed with secret at t,
// as Stripe computes it.
func signature(body []byte, secret string, t time.Time) string {
	return "t=" + strconv.FormatInt(t.Unix(), 10) + ",v1=" + hex.EncodeToString(webhook.ComputeSignature(t, body, secret))
}

// newClient is an HTTP client keeping up to conns connections to one host.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// post signs body now and posts it to url; it fails unless the answer is 200.
func post(ctx context.Context, client *http.Client, url, secret string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature(body, secret, time.Now()))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", url, resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}

// idTemplate is an event whose id is rewritten in place, so that a load
// generator makes a new event for each request without building one.
type idTemplate struct {
	body   []byte
	at     int // where the id's counter digits start
	digits int
	next   atomic.Uint64
}

// newIDTemplate makes a checkout.session.completed event whose id is
// prefix followed by a counter.
func newIDTemplate(prefix string) (*idTemplate, error) {
	const digits = 16
	placeholder := prefix + string(bytes.Repeat([]byte{'X'}, digits))
	body := stripetest.CheckoutCompleted(placeholder, time.Now(), stripetest.Checkout{
		Subscription: stripetest.ID("sub"), Email: "ingest@example.com", Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur"})
	if bytes.Count(body, []byte(placeholder)) != 1 {
		return nil, errors.New("the event template does not hold its id exactly once")
	}
	return &idTemplate{body: body, at: bytes.Index(body, []byte(placeholder)) + len(prefix), digits: digits}, nil
}

// event returns a new event: the template with the next id.
func (t *idTemplate) event() []byte {
	b := bytes.Clone(t.body)
	n := strconv.AppendUint(nil, t.next.Add(1), 10)
	d := b[t.at : t.at+t.digits]
	for i := range d {
		d[i] = '0'
	}
	copy(d[len(d)-len(n):], n)
	return b
}

// window is what a closed-loop window measured at the client.
type window struct {
	OK, Failed int
	Elapsed    time.Duration
	Latencies  perf.Latencies
	FirstError error
}

// closedLoop keeps conns requests in flight to url for d, each a new event
// from next, and measures every request's latency.
func closedLoop(ctx context.Context, client *http.Client, url, secret string, conns int, d time.Duration, next func() []byte) window {
	var mu sync.Mutex
	var w window
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			var lat perf.Latencies
			var ok, failed int
			var firstErr error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				body := next()
				t0 := time.Now()
				if err := post(ctx, client, url, secret, body); err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok++
			}
			mu.Lock()
			defer mu.Unlock()
			w.OK, w.Failed = w.OK+ok, w.Failed+failed
			w.Latencies = append(w.Latencies, lat...)
			if w.FirstError == nil {
				w.FirstError = firstErr
			}
		})
	}
	wg.Wait()
	w.Elapsed = time.Since(start)
	return w
}

// order is one purchase as Stripe sends it: a checkout and its first
// invoice, to an address of its own.
type order struct {
	Email             string
	Checkout, Invoice []byte
}

// newOrders builds n orders of plan; tag keeps their addresses apart from
// another run's.
func newOrders(n int, plan, tag string) []order {
	orders := make([]order, n)
	now := time.Now()
	for i := range orders {
		sub, email := stripetest.ID("sub"), fmt.Sprintf("o%d.%s@example.com", i, tag)
		checkout := stripetest.Checkout{Subscription: sub, Email: email, Plan: plan, Paid: true, Amount: 999, Currency: "eur"}
		invoice := stripetest.Invoice{Subscription: sub, Email: email, Price: planEmailPrice[plan], AmountPaid: 999, Paid: true}
		orders[i] = order{
			Email:    email,
			Checkout: stripetest.CheckoutCompleted(stripetest.ID("evt"), now, checkout),
			Invoice:  stripetest.InvoicePaid(stripetest.ID("evt"), now, invoice),
		}
	}
	return orders
}

func emails(orders []order) []string {
	out := make([]string, len(orders))
	for i, o := range orders {
		out[i] = o.Email
	}
	return out
}

// storeOrders posts every order's events through the webhook with conns
// connections, and fails unless each was answered 200.
func storeOrders(ctx context.Context, url, secret string, orders []order, conns int) error {
	client := newClient(conns)
	defer client.CloseIdleConnections()
	bodies := make(chan []byte)
	var errOnce sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for body := range bodies {
				if err := post(ctx, client, url, secret, body); err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	for _, o := range orders {
		bodies <- o.Checkout
		bodies <- o.Invoice
	}
	close(bodies)
	wg.Wait()
	return firstErr
}
