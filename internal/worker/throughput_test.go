package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// TestNoIdleGapsAtAnyConcurrency stores a backlog of purchases (each a
// checkout and its first invoice, as Stripe sends them) and lets one worker
// provision them at several WORKER_CONCURRENCY settings, against
// zero-latency simulators. It fails if the worker ever makes no progress
// for seconds while orders wait: raising concurrency must never stall it.
func TestNoIdleGapsAtAnyConcurrency(t *testing.T) {
	t.Parallel()
	const orders = 400
	for _, concurrency := range []int{4, 64, 256} {
		t.Run(fmt.Sprint(concurrency), func(t *testing.T) {
			b := setup(t, func(c *worker.Config) { c.Consumer.Concurrency = concurrency })
			ctx := context.Background()
			now := time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for i := range orders {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					sub, email := stripetest.ID("sub"), fmt.Sprintf("c%d@example.com", i)
					evID, c := stripetest.ID("evt"), stripetest.Checkout{Subscription: sub, Email: email, Plan: "std-monthly", Paid: true, Amount: 999, Currency: "eur"}
					inID := stripetest.ID("evt")
					inv := stripetest.Invoice{Subscription: sub, Email: email, Price: "price_std_monthly", AmountPaid: 999, Paid: true}
					for _, m := range []struct {
						typ, id string
						body    []byte
					}{
						{billing.EventCheckoutCompleted, evID, stripetest.CheckoutCompleted(evID, now, c)},
						{billing.EventInvoicePaid, inID, stripetest.InvoicePaid(inID, now, inv)},
					} {
						subject, _ := events.StripeSubject(m.typ)
						if _, err := events.Publish(ctx, b.js, subject, m.id, m.body, nil); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			start, last, done := time.Now(), time.Now(), 0
			var worst time.Duration
			for done < orders {
				time.Sleep(50 * time.Millisecond)
				n := len(b.mail.Messages())
				if n > done {
					worst = max(worst, time.Since(last))
					done, last = n, time.Now()
				}
				if time.Since(last) > 20*time.Second {
					t.Fatalf("concurrency %d: no email for 20 s with %d of %d orders done", concurrency, done, orders)
				}
			}
			took := time.Since(start)
			t.Logf("concurrency %d: %d orders in %s (%.0f/s), longest pause %s", concurrency, orders, took.Round(time.Millisecond), orders/took.Seconds(), worst.Round(time.Millisecond))
			if worst > 3*time.Second {
				t.Errorf("concurrency %d: the worker made no progress for %s while orders waited", concurrency, worst)
			}
		})
	}
}
