package embednats

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is n JetStream servers clustered on loopback, as deploy/nats
// runs them on three machines.
type Cluster struct {
	Servers []*server.Server
}

// StartCluster starts n clustered JetStream servers on loopback, each with
// its store under dir, and waits until JetStream has a meta leader.
func StartCluster(n int, dir string) (*Cluster, error) {
	ports, err := FreePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c := &Cluster{}
	for i := range n {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("vpnbill-%d", i+1),
			Host:       "127.0.0.1",
			Port:       -1,
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			Cluster:    server.ClusterOpts{Name: "vpnbill", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("embednats: server %d: %w", i+1, err)
		}
		s.Start()
		c.Servers = append(c.Servers, s)
	}
	for _, s := range c.Servers {
		if !s.ReadyForConnections(10 * time.Second) {
			c.Stop()
			return nil, errors.New("embednats: cluster not ready in 10s")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.leader() == nil {
		if time.Now().After(deadline) {
			c.Stop()
			return nil, errors.New("embednats: no JetStream meta leader in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, nil
}

func (c *Cluster) leader() *server.Server {
	for _, s := range c.Servers {
		if s.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// URLs is every server's client URL, comma-separated, for NATS_URL.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// Connect opens a client connection to the cluster and its JetStream context.
func (c *Cluster) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.URLs(), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
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

// Stop shuts every server down.
func (c *Cluster) Stop() {
	for _, s := range c.Servers {
		s.Shutdown()
	}
	for _, s := range c.Servers {
		s.WaitForShutdown()
	}
}

// FreePorts returns n distinct loopback ports nobody listens on now (the
// cluster's route ports; the harness's process ports), chosen below the
// range the system hands out as the local ports of outgoing connections
// and to listeners on port 0 (ip_local_port_range): a server stopped and
// started again on its port, as a test restarts a node, finds the port
// free, where one of that range may meanwhile be any connection's local
// port ("address already in use").
func FreePorts(n int) ([]int, error) {
	const from = 10000
	if to := ephemeralLow(); to-from >= 100*n {
		pick := func() string { return fmt.Sprintf("127.0.0.1:%d", from+rand.IntN(to-from)) }
		if ports, err := listenPorts(n, 1000*n, pick); err == nil {
			return ports, nil
		}
	}
	return listenPorts(n, n, func() string { return "127.0.0.1:0" })
}

// listenPorts listens on pick() until n listeners are open, giving up
// after tries listens (a port taken costs one), and returns their ports,
// closed again.
func listenPorts(n, tries int, pick func() string) ([]int, error) {
	if n == 0 {
		return nil, nil
	}
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	var err error
	for range tries {
		var ln net.Listener
		if ln, err = net.Listen("tcp", pick()); err != nil {
			continue
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		if len(ports) == n {
			return ports, nil
		}
	}
	return nil, fmt.Errorf("%d free ports in %d listens: %w", n, tries, err)
}

// ephemeralLow is the first port of the system's ephemeral range, 32768
// if it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return low
}
