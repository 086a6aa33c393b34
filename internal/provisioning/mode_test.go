package provisioning

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
)

// Workers that meet their first events at the same moment, some live and
// some test, all pin the same mode: the first writer's. The pin is no
// record, and later pins change nothing. On a replicated bucket too, where
// a compare-and-swap conflict has another code and a read may lag.
func TestPinModeConcurrentWritersAgree(t *testing.T) {
	t.Parallel()
	for _, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("R%d", replicas), func(t *testing.T) {
			t.Parallel()
			topo := func() *events.Topology {
				if replicas == 1 {
					_, js := harness.Connect(t, harness.NATS(t), "mode-test")
					return harness.Topology(t, js, events.Config{})
				}
				_, js := harness.Connect(t, harness.Cluster(t, 3), "mode-test")
				return harness.Topology(t, js, events.Config{Replicas: 3})
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// Each writer has a store of its own, as each worker process does.
			if _, ok, err := NewStore(topo.Accounts).PinnedMode(ctx); ok || err != nil {
				t.Fatalf("pinned before any event: %v, %v", ok, err)
			}
			const writers = 8
			got := make([]bool, writers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					<-start
					live, err := NewStore(topo.Accounts).PinMode(ctx, i%2 == 0, fmt.Sprintf("evt_%d", i))
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
					}
					got[i] = live
				})
			}
			close(start)
			wg.Wait()
			for i := range writers {
				if got[i] != got[0] {
					t.Fatalf("writers disagree on the mode served: %v", got)
				}
			}
			st := NewStore(topo.Accounts)
			pin, ok, err := st.PinnedMode(ctx)
			if err != nil || !ok || pin.Live() != got[0] || pin.Event == "" || pin.At.IsZero() {
				t.Fatalf("stored pin %+v (%v, %v); every writer was told live=%v", pin, ok, err, got[0])
			}
			if live, err := st.PinMode(ctx, !got[0], "evt_late"); err != nil || live != got[0] {
				t.Errorf("a later pin of the other mode: %v, %v; want the first pin kept (live=%v)", live, err, got[0])
			}
			if keys, err := st.Keys(ctx); err != nil || len(keys) != 0 {
				t.Errorf("record keys %v, %v: the pin must not be taken for a record", keys, err)
			}
		})
	}
}
