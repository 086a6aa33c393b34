package harness_test

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/harness"
)

func TestRefusedAddrRefuses(t *testing.T) {
	t.Parallel()
	addr := harness.RefusedAddr(t)
	for range 3 {
		_, err := net.DialTimeout("tcp", addr, time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial %s = %v, want connection refused", addr, err)
		}
	}
	// Its port stays taken: nobody else can listen there meanwhile.
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("%s could be listened on while reserved", addr)
	}
}
