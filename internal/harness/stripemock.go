package harness

import (
	"context"
	"testing"

	"github.com/vpnbill/vpnbill/internal/stripemock"
)

// StripeMock starts stripe-mock (stripemock.Start) for the rest of the
// test and returns its base URL, for STRIPE_API_URL. A stripe-mock that
// cannot be built or started fails the test: nothing is skipped.
func StripeMock(t testing.TB) string {
	t.Helper()
	url, stop, err := stripemock.Start(context.Background())
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(stop)
	return url
}
