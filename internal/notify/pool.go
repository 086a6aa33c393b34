package notify

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
)

// Sessions are kept open between Sends and used again: an email then costs
// MAIL, RCPT, DATA and RSET, not also a connection, EHLO, STARTTLS's
// handshake, AUTH and QUIT. A kept session is used by one Send at a time.
const (
	// defaultIdleSessions is how many open sessions wait between Sends
	// unless Config.IdleSessions says.
	defaultIdleSessions = 16
	// sessionIdleFor is how long a session may wait unused before it is
	// closed rather than used: well under the idle timeouts of SMTP
	// servers (Postfix 300 s, most relays 60 s or more).
	sessionIdleFor = 15 * time.Second
	// sessionMessages is how many messages one session carries before it
	// is closed, under the per-connection limits relays set (often 100).
	sessionMessages = 50
)

// session is one SMTP connection, authenticated and ready for MAIL FROM.
type session struct {
	client *mail.Client
	// watch closes the connection when the ctx of the Send using it ends;
	// unwatch releases that watch, false if it fired (the connection is
	// closed: the session cannot be kept).
	mu      sync.Mutex
	conn    net.Conn
	unwatch func() bool
	sent    int
	idle    time.Time
}

// watch makes ctx's end close the session's connection until unwatched.
func (s *session) watch(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return
	}
	conn := s.conn
	s.unwatch = context.AfterFunc(ctx, func() { conn.Close() })
}

// release ends the watch and reports whether the connection is still open.
func (s *session) release() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unwatch == nil {
		return s.conn != nil
	}
	ok := s.unwatch()
	s.unwatch = nil
	return ok
}

// close ends the session, politely if the server still listens.
func (s *session) close() {
	s.release()
	_ = s.client.Close()
}

// newSession dials and greets the server (EHLO, STARTTLS, AUTH as
// configured). ctx ending closes the connection, during the greeting too.
func (m *Mailer) newSession(ctx context.Context) (*session, error) {
	s := &session{}
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := m.dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.conn = conn
		s.mu.Unlock()
		s.watch(ctx)
		return conn, nil
	}
	client, err := mail.NewClient(m.ep.host, append(m.clientOptions(dial), mail.WithoutNoop())...)
	if err != nil {
		return nil, err
	}
	s.client = client
	if err := client.DialWithContext(ctx); err != nil {
		s.release()
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

// idleSession returns a kept session, or nil if none is fit to use.
func (m *Mailer) idleSession() *session {
	for {
		select {
		case s := <-m.idle:
			if time.Since(s.idle) < sessionIdleFor {
				return s
			}
			s.close()
		default:
			return nil
		}
	}
}

// keep puts s back for the next Send, or closes it.
func (m *Mailer) keep(s *session) {
	if !s.release() || s.sent >= sessionMessages {
		s.close()
		return
	}
	s.idle = time.Now()
	select {
	case m.idle <- s:
	default:
		s.close()
	}
}

// Close closes the sessions kept open between Sends. The Mailer stays
// usable: a later Send opens a new one.
func (m *Mailer) Close() error {
	for {
		select {
		case s := <-m.idle:
			s.close()
		default:
			return nil
		}
	}
}
