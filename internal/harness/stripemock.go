package harness

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// stripeMockBinary is the path of stripe-mock's binary, built once per
// test binary.
var stripeMockBinary = sync.OnceValues(func() (string, error) {
	// The go.mod tool (pinned there); `go tool -n` builds it into the build
	// cache if it is not there yet, and prints its path.
	out, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go tool -n stripe-mock: %w", err)
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("go tool -n stripe-mock: %w", err)
	}
	return path, nil
})

// StripeMock starts stripe-mock (Stripe's API mock, validating every
// request against Stripe's OpenAPI spec and answering with its fixtures;
// it keeps no state) on a random loopback port, for the rest of the test,
// and returns its base URL, for STRIPE_API_URL. It accepts test-mode keys
// (sk_test_…, rk_test_…) and refuses others with 401. A stripe-mock that
// cannot be built or started fails the test: nothing is skipped.
func StripeMock(t testing.TB) string {
	t.Helper()
	bin, err := stripeMockBinary()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	// Both listeners on loopback ports of the kernel's choosing: HTTPS
	// would otherwise take its fixed default port.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("harness: stripe-mock: %v", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("harness: start stripe-mock: %v", err)
	}
	addr := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		const prefix = "Listening for HTTP at address: "
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				addr <- strings.TrimSpace(a)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		<-drained
		_ = cmd.Wait()
	}
	select {
	case a := <-addr:
		t.Cleanup(stop)
		return "http://" + a
	case <-drained:
		stop()
		t.Fatalf("harness: stripe-mock exited before listening: %s", stderr.String())
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("harness: stripe-mock not listening after 30s: %s", stderr.String())
	}
	return ""
}
