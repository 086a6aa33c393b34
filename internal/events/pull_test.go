package events_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
)

// TestConsumerNoIdleGaps delivers a backlog to the consume loop at several
// concurrencies, with some messages asking to be redelivered shortly (as a
// handler that meets another worker's lease does), and fails if the loop
// ever sits idle while work is waiting: the longest pause between two
// settled messages must stay far below a pull request's expiry.
func TestConsumerNoIdleGaps(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{4, 64, 256} {
		t.Run(fmt.Sprint(concurrency), func(t *testing.T) {
			t.Parallel()
			cb := setupConsumerAckWait(t, 30*time.Second)
			const total = 2000
			var (
				mu       sync.Mutex
				settles  []time.Time
				acked    = map[string]bool{}
				allAcked = make(chan struct{})
			)
			cfg := events.ConsumerConfig{
				Concurrency: concurrency,
				RetryBase:   50 * time.Millisecond,
				RetryMax:    200 * time.Millisecond,
				MaxDeliver:  testMaxDeliver,
				AckWait:     cb.cfg.AckWait,
				Logger:      zaptest.NewLogger(t),
				Observe: func(msg jetstream.Msg, outcome string, _ time.Duration) {
					mu.Lock()
					defer mu.Unlock()
					settles = append(settles, time.Now())
					if outcome == "ack" && !acked[msgID(msg)] {
						acked[msgID(msg)] = true
						if len(acked) == total {
							close(allAcked)
						}
					}
				},
			}
			for i := range total {
				cb.publish(t, fmt.Sprintf("evt_%04d", i))
			}
			start := time.Now()
			cb.run(t, func(ctx context.Context, msg jetstream.Msg) error {
				// One message in five meets a lease on its first delivery.
				if strings.HasSuffix(msgID(msg), "0") || strings.HasSuffix(msgID(msg), "5") {
					if delivery(t, msg) == 1 {
						return events.RetryAfter(fmt.Errorf("leased"), time.Second)
					}
				}
				time.Sleep(5 * time.Millisecond) // a few store writes and provider calls
				return nil
			}, cfg)
			select {
			case <-allAcked:
			case <-time.After(2 * time.Minute):
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%d of %d messages acked after 2 minutes", len(acked), total)
			}
			mu.Lock()
			defer mu.Unlock()
			prev, worst := start, time.Duration(0)
			for _, at := range settles {
				worst = max(worst, at.Sub(prev))
				prev = at
			}
			t.Logf("concurrency %d: %d messages in %s, longest idle gap %s", concurrency, total, prev.Sub(start).Round(time.Millisecond), worst.Round(time.Millisecond))
			if worst > 3*time.Second {
				t.Errorf("the loop sat idle for %s with work waiting (concurrency %d)", worst, concurrency)
			}
		})
	}
}
