package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/childproc"
	"github.com/vpnbill/vpnbill/internal/embednats"
)

// natsServerModule is the nats-server go.mod requires; its binary is built
// from the module cache, as cmd/vpnbench builds it.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// natsServerBinary is the path of the nats-server binary of go.mod's
// version: built once per test binary, and kept under os.TempDir, keyed by
// that version, for the next test binaries.
var natsServerBinary = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", natsServerModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", natsServerModule, exitDetail(err))
	}
	version := strings.TrimSpace(string(out))
	dir := filepath.Join(os.TempDir(), "vpnbill-nats-server-"+version)
	path := filepath.Join(dir, "nats-server")
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o100 != 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	// Built beside its place and renamed into it: a test binary running at
	// the same time never sees half a file.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "nats-server")
	if err := childproc.GoBuild(context.Background(), built, natsServerModule); err != nil {
		return "", err
	}
	if err := os.Rename(built, path); err != nil {
		return "", err
	}
	return path, nil
})

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	return err
}

// NATSNode is one nats-server process of a NATSProcessCluster: its own
// configuration file and file store, which outlive the process, so that a
// node killed is started again as the same node.
type NATSNode struct {
	// Name is the server's name, as stream info names a leader or a replica.
	Name string
	// ClientURL is where clients connect.
	ClientURL string
	// MonitorURL is the monitoring endpoint (/healthz, /varz, /jsz).
	MonitorURL string

	bin, conf, log string
	proc           *Process
}

// NATSProcessCluster is n nats-server processes clustered on loopback,
// configured as deploy/nats configures the production nodes (JetStream with
// sync_interval always, one cluster, every node a route). Unlike Cluster's
// embedded servers, a node can be killed with SIGKILL: nothing it had not
// written to its store survives.
type NATSProcessCluster struct {
	Nodes []*NATSNode
}

// NATSProcesses builds (once per test binary) the nats-server of go.mod and
// starts an n-node cluster of it on loopback ports, each node with its store
// and log in a temporary directory. It returns once every node serves
// JetStream; every node still running is killed at the end of the test.
func NATSProcesses(t testing.TB, n int) *NATSProcessCluster {
	t.Helper()
	bin, err := natsServerBinary()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	ports, err := embednats.FreePorts(3 * n)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[3*i+2]))
	}
	dir := t.TempDir()
	c := &NATSProcessCluster{}
	for i := range n {
		name := fmt.Sprintf("vpnbill-%d", i+1)
		client, monitor, cluster := ports[3*i], ports[3*i+1], ports[3*i+2]
		conf := fmt.Sprintf(`# as deploy/nats/node%d.conf, on loopback
server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d

jetstream {
  store_dir: %q
  sync_interval: always
}

cluster {
  name: vpnbill
  listen: 127.0.0.1:%d
  routes: [
    %s
  ]
}
`, i+1, name, client, monitor, filepath.Join(dir, name, "store"), cluster, strings.Join(routes, "\n    "))
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatalf("harness: %v", err)
		}
		node := &NATSNode{
			Name:       name,
			ClientURL:  fmt.Sprintf("nats://127.0.0.1:%d", client),
			MonitorURL: fmt.Sprintf("http://127.0.0.1:%d", monitor),
			bin:        bin,
			conf:       filepath.Join(dir, name, "nats-server.conf"),
			log:        filepath.Join(dir, name, "nats-server.log"),
		}
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			t.Fatalf("harness: %v", err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	// Registered before the processes' own cleanups, so run after them.
	t.Cleanup(func() {
		if t.Failed() {
			for _, node := range c.Nodes {
				t.Logf("harness: %s%s", node.Name, node.proc.Tail())
			}
		}
	})
	for _, node := range c.Nodes {
		node.Start(t)
	}
	for _, node := range c.Nodes {
		node.WaitReady(t, time.Minute)
	}
	return c
}

// Start starts the node's process, with the configuration and store it
// had; it does not wait for it to serve (WaitReady). The process is killed
// at the end of the test if it still runs.
func (n *NATSNode) Start(t testing.TB) {
	t.Helper()
	if n.Running() {
		t.Fatalf("harness: start %s: it is running", n.Name)
	}
	n.proc = StartProcess(t, n.Name, n.bin, nil, n.log, "-c", n.conf)
}

// Running says whether the node's process runs.
func (n *NATSNode) Running() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.Exited():
		return false
	default:
		return true
	}
}

// Kill sends the node SIGKILL (a crash, a power loss: what the server had
// not written to its store is gone) and waits until it has exited.
func (n *NATSNode) Kill() {
	if n.proc != nil {
		n.proc.Kill()
	}
}

// WaitReady waits until the node's /healthz answers 200: it serves
// JetStream, knows the meta leader and is current with it, and every stream
// and consumer it holds is current (until then a JetStream request may go
// unanswered rather than fail). It fails the test after within, or if the
// process ends.
func (n *NATSNode) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	if err := n.proc.WaitHTTP(n.MonitorURL+"/healthz", within); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

// URLs is every node's client URL, comma-separated, for NATS_URL.
func (c *NATSProcessCluster) URLs() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, n.ClientURL)
	}
	return strings.Join(urls, ",")
}

// Node is the node called name, or nil.
func (c *NATSProcessCluster) Node(name string) *NATSNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Connect opens a client connection to the cluster (every node's URL,
// reconnecting forever, as vpnbill's processes do) and its JetStream context.
func (c *NATSProcessCluster) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.URLs(), nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// Process is a program a test runs as a process of its own, its output
// going to a log file (childproc.Process, with WaitHTTP bounded by the
// test's patience alone).
type Process struct{ *childproc.Process }

// StartProcess starts path with args and env added to this process's
// environment, its output appended to logPath (the test's temporary
// directory if empty). The process gets SIGKILL if this one dies, and at
// the end of the test if it still runs.
func StartProcess(t testing.TB, name, path string, env []string, logPath string, args ...string) *Process {
	t.Helper()
	if logPath == "" {
		logPath = filepath.Join(t.TempDir(), name+".log")
	}
	p, err := childproc.Start(name, path, args, append(os.Environ(), env...), logPath)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(p.Kill)
	return &Process{p}
}

// WaitHTTP polls url until it answers 200; it fails if the process ends
// first or within passes.
func (p *Process) WaitHTTP(url string, within time.Duration) error {
	return p.Process.WaitHTTP(context.Background(), url, within)
}

// GoBuild builds the main package pkg of this module (e.g. "./cmd/worker",
// relative to the module's root) into the test's temporary directory and
// returns the binary's path. The go command's cache makes a build after
// the first one quick.
func GoBuild(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := childproc.GoBuild(context.Background(), out, pkg); err != nil {
		t.Fatalf("harness: %v", err)
	}
	return out
}

// FreeAddr returns a loopback address ("127.0.0.1:port") nobody listens on
// now, for a process to listen on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ports, err := embednats.FreePorts(1)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}
