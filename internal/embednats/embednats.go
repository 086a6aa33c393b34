// Package embednats runs a NATS server with JetStream inside the process,
// for cmd/demo and the tests: loopback only, a random port unless one is
// given, file storage in a directory the caller owns.
package embednats

import (
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options of an embedded server.
type Options struct {
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Port to listen on, on 127.0.0.1. Default -1: a random free port.
	Port int
}

// Server is a running embedded NATS server.
type Server struct {
	*server.Server
	opts Options
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("embednats: StoreDir is required")
	}
	if o.Port == 0 {
		o.Port = -1
	}
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      o.Port,
		JetStream: true,
		StoreDir:  o.StoreDir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("embednats: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embednats: server not ready in 10s")
	}
	return &Server{Server: s, opts: o}, nil
}

// Connect opens a client connection that reconnects forever, and its JetStream context.
func (s *Server) Connect(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(s.ClientURL(), nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
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

// Stop shuts the server down and waits for it.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}
