package provisioning

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
)

// On a replicated (R3) bucket the server reports a compare-and-swap
// conflict with another code than a single server does; Update must still
// recognise it and re-apply, so that concurrent writers of one record all
// land and none fails.
func TestUpdateRetriesConflictsOnReplicatedBucket(t *testing.T) {
	t.Parallel()
	_, js := harness.Connect(t, harness.Cluster(t, 3), "store-test")
	topo := harness.Topology(t, js, events.Config{Replicas: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := NewStore(topo.Accounts)
	const writers, writes = 4, 10
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range writes {
				if _, _, err := store.Update(ctx, "sub_1", func(r *Record) error {
					r.Applied = append(r.Applied, "x")
					return nil
				}); err != nil {
					t.Errorf("update: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r, _, err := store.Get(ctx, "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Applied) != writers*writes {
		t.Errorf("%d writes landed, want %d", len(r.Applied), writers*writes)
	}
}
