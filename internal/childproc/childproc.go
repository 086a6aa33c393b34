// Package childproc runs vpnbill's programs (and nats-server) as child
// processes, as the tests that need real processes (internal/harness) and
// the benchmark (cmd/vpnbench) both do: a program built from this module,
// started with its output in a log file, stopped with SIGTERM (killed
// after a grace), waited for until it answers over HTTP, and explained by
// the end of its log when it fails. A child gets SIGKILL if its parent
// dies.
package childproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is a started child process.
type Process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // set before exited is closed
}

// Start starts path with args and exactly env (the caller decides what it
// inherits), its output appended to logPath.
func Start(name, path string, args, env []string, logPath string) (*Process, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Name is the name it was started with.
func (p *Process) Name() string { return p.name }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits until the process has ended.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to grace for the process to end, then
// kills it; it returns an error, with the end of the log, unless the
// process ended cleanly within grace.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.exitError()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exitError()
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed%s", p.name, grace, p.Tail())
	}
}

func (p *Process) exitError() error {
	if p.err != nil {
		return fmt.Errorf("%s: %w%s", p.name, p.err, p.Tail())
	}
	return nil
}

// Tail is the end of the process's log, to explain a failure.
func (p *Process) Tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return "\n--- " + p.log + " (end):\n" + string(bytes.TrimSpace(b))
}

// WaitHTTP polls url until it answers 200; it fails if the process ends
// first, if within passes, or if ctx ends.
func (p *Process) WaitHTTP(ctx context.Context, url string, within time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s ended (%s) before %s answered%s", p.name, p.cmd.ProcessState, url, p.Tail())
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s: %s did not answer 200 within %s%s", p.name, url, within, p.Tail())
			}
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ModuleRoot is the directory of this module's go.mod, found by the go
// command: the process must run inside the module.
func ModuleRoot(ctx context.Context) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", exitDetail(err))
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the vpnbill module (run it from the repository)")
	}
	return filepath.Dir(mod), nil
}

// GoBuild builds pkg ("./cmd/worker", or a module path in go.mod, such as
// nats-server's) into the binary out, from the module's root.
func GoBuild(ctx context.Context, out, pkg string) error {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}
