// Package mailcatcher is an SMTP listener that keeps every message it receives, for tests and
// cmd/demo. It decodes what it receives (multipart/alternative, quoted-printable, base64) so a
// test can search the text of an email for a username or password, optionally writes each
// message as an .eml file, and can refuse recipients to inject SMTP failures.
//
// It is not a mail server: it delivers nothing anywhere. It never logs message bodies (they hold
// VPN passwords); it logs envelope sender, recipients and Message-ID at debug level.
package mailcatcher

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

// ErrClosed is returned by WaitFor when the catcher was closed before enough messages arrived,
// and by Start after Close.
var ErrClosed = errors.New("mailcatcher: closed")

// Options configure a Catcher. The zero value is a working catcher that keeps messages in memory.
type Options struct {
	// Dir, if set, is where every message is written as an .eml file (created 0700 if missing;
	// files are 0600 because they hold passwords). Empty: messages are kept in memory only.
	Dir string

	// OnMessage, if set, is called with each message after it has been stored (and written to
	// Dir). It runs on the SMTP session's goroutine, before the server answers the DATA command,
	// so it must not block for long. cmd/demo prints with it.
	OnMessage func(Received)

	// Logger receives debug lines (envelope and Message-ID, never bodies) and server errors.
	// Nil: zap.NewNop().
	Logger *zap.Logger

	// RejectRcpt, if set, is asked about each RCPT TO address; a non-nil error is the answer the
	// client gets (fault injection: 550 mailbox unavailable, 451 try again later, ...).
	RejectRcpt func(addr string) *smtp.SMTPError

	// RejectData, if set, is asked about each message after DATA (decoded, not yet stored); a
	// non-nil error is the answer to the end of DATA and the message is not stored (fault
	// injection: 554 content refused, 452 insufficient storage, ...).
	RejectData func(Received) *smtp.SMTPError

	// Username and Password, if Username is set, are the only credentials AUTH PLAIN accepts, and
	// a session must authenticate before MAIL FROM. Empty: AUTH PLAIN accepts any credentials
	// and is optional.
	Username, Password string

	// TLSConfig, if set, holds the server certificate: STARTTLS is offered, or, with
	// ImplicitTLS, every connection starts with a TLS handshake (smtps). Nil: plain SMTP only.
	TLSConfig *tls.Config

	// ImplicitTLS makes the listener speak TLS from the first byte (smtps). Requires TLSConfig.
	ImplicitTLS bool
}

// Received is one message as the catcher received it.
type Received struct {
	From      string   // envelope sender (MAIL FROM)
	To        []string // envelope recipients (RCPT TO)
	AuthUser  string   // the AUTH PLAIN username, if the session authenticated
	TLS       bool     // the session was encrypted (STARTTLS or implicit TLS)
	Raw       []byte   // the message exactly as received in DATA
	Subject   string   // decoded Subject header
	MessageID string   // Message-ID header as written, angle brackets included
	Text      string   // decoded text/plain body (the first one found), "\n" line endings
	HTML      string   // decoded text/html body (the first one found), "\n" line endings
	Path      string   // the .eml file, if Options.Dir is set
}

func (r Received) clone() Received {
	r.To = append([]string(nil), r.To...)
	r.Raw = append([]byte(nil), r.Raw...)
	return r
}

// Catcher is an SMTP listener that stores what it receives. It is safe for concurrent use.
type Catcher struct {
	opts Options
	log  *zap.Logger

	mu       sync.Mutex
	msgs     []Received
	changed  chan struct{} // closed and replaced whenever msgs grows or the catcher closes
	closed   bool
	srv      *smtp.Server
	ln       *trackingListener
	served   chan struct{} // closed when the Serve goroutine has returned
	addr     string
	sequence int
}

// New returns a Catcher; Start makes it listen.
func New(opts Options) *Catcher {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Catcher{opts: opts, log: log, changed: make(chan struct{})}
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves SMTP in the background until Close.
func (c *Catcher) Start(addr string) error {
	if c.opts.ImplicitTLS && c.opts.TLSConfig == nil {
		return errors.New("mailcatcher: ImplicitTLS requires TLSConfig")
	}
	if c.opts.Dir != "" {
		if err := os.MkdirAll(c.opts.Dir, 0o700); err != nil {
			return fmt.Errorf("mailcatcher: create message dir: %w", err)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case c.srv != nil:
		return errors.New("mailcatcher: already started")
	}

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mailcatcher: listen: %w", err)
	}
	ln := &trackingListener{Listener: l, conns: make(map[net.Conn]struct{})}
	var serveLn net.Listener = ln
	if c.opts.ImplicitTLS {
		serveLn = tls.NewListener(ln, c.opts.TLSConfig)
	}

	srv := smtp.NewServer(smtp.BackendFunc(c.newSession))
	srv.Domain = "mailcatcher.localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	srv.ErrorLog = errorLog{c.log.Named("smtp")}
	srv.AllowInsecureAuth = isLoopback(l.Addr())
	if !c.opts.ImplicitTLS {
		srv.TLSConfig = c.opts.TLSConfig // offers STARTTLS when set
	}

	c.srv, c.ln, c.addr = srv, ln, l.Addr().String()
	c.served = make(chan struct{})
	go func() {
		defer close(c.served)
		if err := srv.Serve(serveLn); err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Warn("mailcatcher: serve stopped", zap.Error(err))
		}
	}()
	c.log.Debug("mailcatcher listening", zap.String("addr", c.addr))
	return nil
}

// Addr is the listening address, "127.0.0.1:port"; empty before Start.
func (c *Catcher) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addr
}

// URL is an SMTP_URL for the catcher: "smtp://127.0.0.1:port" ("smtps://" with ImplicitTLS).
func (c *Catcher) URL() string {
	scheme := "smtp"
	if c.opts.ImplicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + c.Addr()
}

// Close stops listening, drops open connections and waits until every goroutine the catcher
// started has returned. Messages stay readable. Close is idempotent.
func (c *Catcher) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.changed)
	c.changed = make(chan struct{})
	srv, ln, served := c.srv, c.ln, c.served
	c.mu.Unlock()

	if srv == nil {
		return nil
	}
	// Closing the listener ends Serve, after which no handler can start; closing the
	// connections ends the handlers; Shutdown then waits for them to return.
	err := ln.Close()
	<-served
	ln.closeConns()
	if serr := srv.Shutdown(context.Background()); serr != nil && !errors.Is(serr, smtp.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Messages returns a copy of every message received so far, oldest first.
func (c *Catcher) Messages() []Received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.copyLocked()
}

func (c *Catcher) copyLocked() []Received {
	out := make([]Received, len(c.msgs))
	for i, m := range c.msgs {
		out[i] = m.clone()
	}
	return out
}

// WaitFor blocks until at least n messages have been received and returns a copy of all of them.
// It returns ctx's error when ctx is done first, and ErrClosed when the catcher is closed with
// fewer than n messages.
func (c *Catcher) WaitFor(ctx context.Context, n int) ([]Received, error) {
	for {
		c.mu.Lock()
		if len(c.msgs) >= n {
			out := c.copyLocked()
			c.mu.Unlock()
			return out, nil
		}
		closed, changed := c.closed, c.changed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("mailcatcher: waiting for %d messages: %w", n, ctx.Err())
		}
	}
}

// store records a message, writes its .eml file and wakes WaitFor.
func (c *Catcher) store(r Received) error {
	c.mu.Lock()
	c.sequence++
	seq := c.sequence
	c.mu.Unlock()

	if c.opts.Dir != "" {
		path := filepath.Join(c.opts.Dir, emlName(seq, r.MessageID))
		if err := os.WriteFile(path, r.Raw, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		r.Path = path
	}

	c.mu.Lock()
	c.msgs = append(c.msgs, r)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()

	c.log.Debug("mailcatcher: message received",
		zap.String("from", r.From), zap.Strings("to", r.To), zap.String("message_id", r.MessageID))
	if c.opts.OnMessage != nil {
		c.opts.OnMessage(r.clone())
	}
	return nil
}

// emlName is "<seq>-<sanitised message id>.eml", unique and safe as a file name.
func emlName(seq int, messageID string) string {
	id := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_', r == '@':
			return r
		default:
			return '_'
		}
	}, strings.Trim(messageID, "<> "))
	if len(id) > 100 {
		id = id[:100]
	}
	if id == "" {
		return fmt.Sprintf("%06d.eml", seq)
	}
	return fmt.Sprintf("%06d-%s.eml", seq, id)
}

func (c *Catcher) newSession(conn *smtp.Conn) (smtp.Session, error) {
	return &session{c: c, conn: conn}, nil
}

// session is one SMTP transaction's state; go-smtp calls it from one goroutine.
type session struct {
	c        *Catcher
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		want := s.c.opts
		if want.Username != "" && (username != want.Username || password != want.Password) {
			return smtp.ErrAuthFailed
		}
		s.authUser = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.c.opts.Username != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if reject := s.c.opts.RejectRcpt; reject != nil {
		if serr := reject(to); serr != nil {
			return serr
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	rec := Received{From: s.from, To: append([]string(nil), s.to...), AuthUser: s.authUser, TLS: isTLS, Raw: raw}
	if err := decode(&rec); err != nil {
		// Keep the raw message anyway: a sink that drops what it cannot parse hides bugs.
		s.c.log.Warn("mailcatcher: cannot decode message", zap.String("message_id", rec.MessageID), zap.Error(err))
	}
	if reject := s.c.opts.RejectData; reject != nil {
		if serr := reject(rec.clone()); serr != nil {
			return serr
		}
	}
	if err := s.c.store(rec); err != nil {
		s.c.log.Error("mailcatcher: cannot store message", zap.String("message_id", rec.MessageID), zap.Error(err))
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store message"}
	}
	return nil
}

func (s *session) Reset() {
	s.from, s.to = "", nil
}

func (s *session) Logout() error { return nil }

// trackingListener remembers accepted connections so Close can end them.
type trackingListener struct {
	net.Listener

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	once   sync.Once
	err    error
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		conn.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: conn, l: l}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.err = l.Listener.Close()
	})
	return l.err
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for conn := range l.conns {
		conn.(*trackedConn).Conn.Close()
	}
	clear(l.conns)
}

type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// errorLog hands go-smtp's server errors (connection-level, never message content) to zap.
type errorLog struct{ log *zap.Logger }

func (l errorLog) Printf(format string, v ...any) { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l errorLog) Println(v ...any)               { l.log.Warn(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
