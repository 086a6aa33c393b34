package main

import (
	"context"
	"net"
	"os"
	"path/filepath"

	"github.com/vpnbill/vpnbill/internal/childproc"
)

// binaries are the programs a run starts as processes.
type binaries struct {
	NATSServer, Webhook, Worker string
	// Self is this program, run again with -ceiling-server.
	Self string
}

// build builds cmd/webhook, cmd/worker and the nats-server of go.mod into
// dir, with the go command (a run needs nothing but Go, as the README's
// commands do).
func build(ctx context.Context, dir string) (binaries, error) {
	b := binaries{
		NATSServer: filepath.Join(dir, "nats-server"),
		Webhook:    filepath.Join(dir, "webhook"),
		Worker:     filepath.Join(dir, "worker"),
	}
	for _, t := range []struct{ out, pkg string }{
		{b.NATSServer, "github.com/nats-io/nats-server/v2"},
		{b.Webhook, "./cmd/webhook"},
		{b.Worker, "./cmd/worker"},
	} {
		if err := childproc.GoBuild(ctx, t.out, t.pkg); err != nil {
			return binaries{}, err
		}
	}
	var err error
	if b.Self, err = os.Executable(); err != nil {
		return binaries{}, err
	}
	return b, nil
}

// startProc starts path with args and exactly env (nothing inherited but
// PATH and HOME), its output going to logPath; it is killed if the run
// dies.
func startProc(name, path string, args []string, env []string, logPath string) (*childproc.Process, error) {
	return childproc.Start(name, path, args, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...), logPath)
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
