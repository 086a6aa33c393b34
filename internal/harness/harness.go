// Package harness holds what vpnbill's tests share across packages: real
// parts on loopback for tests to talk to — an embedded JetStream server (or
// a cluster) with vpnbill's topology, the providers' simulators over HTTP,
// an SMTP mail catcher, a plans file — a settable clock, and a headless
// browser for the web pages (Browser).
//
// Each helper takes the test, fails it if the part cannot be had, and
// registers the part's shutdown with t.Cleanup: nothing outlives the test,
// and a test asks only for the parts it uses. World bundles the common
// case. The package holds no state of its own.
//
// It is imported by tests only, which keeps chromedp (Browser) out of
// every binary. It imports events, billing, embednats, the mail catcher
// and the simulators, so those packages' in-package tests cannot import it
// (their external _test packages can); it must not import provisioning,
// worker or ops, whose in-package tests use it.
package harness

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// RefusedAddr returns a loopback address that refuses connections for the
// rest of the test: a TCP socket bound to it but never listening. Unlike a
// listener closed again at once, its port cannot be taken meanwhile by
// another test's server, which would then answer instead of refusing.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("getsockname: %T, want an IPv4 address", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}
