// Package stripemock starts stripe-mock, Stripe's API mock (the tool
// go.mod pins), on loopback: for the tests (internal/harness.StripeMock)
// and for the demo's checkout links without a Stripe key. It is its own
// package so that the demo need not import the tests' harness (and its
// headless browser).
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// stripeMockStartLimit bounds how long a started stripe-mock may take to
// listen.
const stripeMockStartLimit = 30 * time.Second

// stripeMockPath is the path of stripe-mock's binary once found: built at
// most once per process while it succeeds (a failed or cancelled build is
// tried again by the next caller).
var stripeMockPath struct {
	sync.Mutex
	path string
}

// stripeMockBinary builds stripe-mock if it is not built yet and returns
// its path. ctx bounds the build.
func stripeMockBinary(ctx context.Context) (string, error) {
	stripeMockPath.Lock()
	defer stripeMockPath.Unlock()
	if stripeMockPath.path != "" {
		return stripeMockPath.path, nil
	}
	// The go.mod tool (pinned there); `go tool -n` builds it into the build
	// cache if it is not there yet, and prints its path.
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("go tool -n stripe-mock: %w", ctx.Err())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("go tool -n stripe-mock: %w", err)
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("go tool -n stripe-mock: %w", err)
	}
	stripeMockPath.path = path
	return path, nil
}

// Start starts stripe-mock (Stripe's API mock, validating every
// request against Stripe's OpenAPI spec and answering with its fixtures;
// it keeps no state) on a random loopback port and returns its base URL,
// for STRIPE_API_URL, and stop, which ends it and waits until it has
// ended. It accepts test-mode keys (sk_test_…, rk_test_…) and refuses
// others with 401.
//
// stripe-mock is the tool go.mod pins, built by `go tool -n stripe-mock`
// (so the go command must be on PATH and the working directory in this
// module) the first time, which takes a while without a build cache. ctx
// bounds building and starting it, not how long it runs: that ends with
// stop. On an error nothing is left running.
func Start(ctx context.Context) (url string, stop func(), err error) {
	bin, err := stripeMockBinary(ctx)
	if err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	// Both listeners on loopback ports of the kernel's choosing: HTTPS
	// would otherwise take its fixed default port.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, fmt.Errorf("stripe-mock: %w", err)
	}
	stderr := &tail{max: 4 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start stripe-mock: %w", err)
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
				break
			}
		}
		// Then its log of every request, which nobody reads.
		_, _ = io.Copy(io.Discard, stdout)
	}()
	stop = sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		<-drained
		_ = cmd.Wait()
	})
	timer := time.NewTimer(stripeMockStartLimit)
	defer timer.Stop()
	select {
	case a := <-addr:
		return "http://" + a, stop, nil
	case <-drained:
		stop()
		return "", nil, fmt.Errorf("stripe-mock exited before listening: %s", stderr)
	case <-timer.C:
		stop()
		return "", nil, fmt.Errorf("stripe-mock not listening after %s: %s", stripeMockStartLimit, stderr)
	case <-ctx.Done():
		stop()
		return "", nil, fmt.Errorf("start stripe-mock: %w", ctx.Err())
	}
}

// tail keeps the last max bytes written to it, to explain a failure
// without growing for as long as a process runs.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
