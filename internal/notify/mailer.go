// Package notify owns email to customers: SMTP delivery (Mailer) and the email templates, one
// per Kind and locale (English, German), each rendered as plain text and HTML (Render), which a
// reseller may override file by file and brand (LoadTemplates, Branding). It knows nothing of the providers'
// HTTP APIs, Stripe or NATS: the worker hands it a Data and a deterministic Message-ID and acts
// on the error class Send returns.
//
// Errors: Send's error wraps ErrPermanent (test with IsPermanent or errors.Is) when the SMTP
// server refused the message for good (5xx to MAIL FROM, RCPT TO or DATA) or the message itself
// is invalid; retrying such a message cannot succeed, so the worker dead-letters it. Every other
// error (dial, TLS, authentication, 4xx, timeout, cancellation) is temporary: retry later.
package notify

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"

	"github.com/wneessen/go-mail"
	"go.uber.org/zap"
)

// ErrPermanent is wrapped by Send's error when delivering the message again cannot succeed: the
// server answered 5xx to MAIL FROM, RCPT TO or DATA (e.g. 550 mailbox unavailable), or the
// Message is invalid (bad To address, missing Message-ID, forbidden header). Any other error
// from Send is temporary.
var ErrPermanent = errors.New("permanent mail failure")

// IsPermanent reports whether err (from Send) means the message must not be retried. It is
// errors.Is(err, ErrPermanent).
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

// Message is one email to one recipient.
type Message struct {
	To      string // recipient address, "a@example.com" or "Name <a@example.com>"
	Subject string
	Text    string // text/plain body; with HTML, the two form a multipart/alternative
	HTML    string // text/html body

	// MessageID is written as the Message-ID header, exactly: "<kind.key.n@vpnbill>" (the
	// angle brackets are added if missing). Required. Callers derive it deterministically so a
	// duplicate delivery after a retry is recognisable as such.
	MessageID string

	// Headers are extra header fields (e.g. "Reply-To", "X-Vpnbill-Account"). They may not
	// replace From, To, Cc, Bcc, Subject, Date, Message-ID or the MIME structure headers.
	Headers map[string]string
}

// Mailer delivers Messages over SMTP. It is safe for concurrent use. Sessions are kept open
// between Sends and used again, one Send at a time each (pool.go); Close closes them.
type Mailer struct {
	cfg       Config
	ep        endpoint
	from      string
	tlsConfig *tls.Config
	log       *zap.Logger
	idle      chan *session // open sessions between Sends (pool.go)
}

// New validates cfg (after WithDefaults) and returns a Mailer. It does not dial.
func New(cfg Config, log *zap.Logger) (*Mailer, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("notify: invalid config: %w", err)
	}
	ep, err := parseURL(cfg.URL)
	if err != nil { // validate accepted the URL; this parse is for its values
		return nil, fmt.Errorf("notify: invalid config: %w", err)
	}
	tlsConfig := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsConfig = cfg.TLSConfig.Clone()
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = ep.host
	}
	if tlsConfig.MinVersion == 0 {
		tlsConfig.MinVersion = tls.VersionTLS12
	}
	m := &Mailer{cfg: cfg, ep: ep, from: cfg.From, tlsConfig: tlsConfig, log: log, idle: make(chan *session, cmp.Or(max(cfg.IdleSessions, 0), defaultIdleSessions))}
	log.Debug("notify: mailer configured",
		zap.String("smtp_url", cfg.redactedURL()), zap.Stringer("tls", ep.tls), zap.Bool("auth", ep.user != ""))
	return m, nil
}

// Send delivers m in one SMTP session. It returns nil once the server has accepted the message
// (250 after DATA), even if closing the session fails afterwards. ctx bounds the whole session;
// Config.Timeout bounds each step. See the package doc for the error classes.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	gm, err := m.build(msg)
	if err != nil {
		return fmt.Errorf("notify: invalid message %s: %w: %w", msg.MessageID, ErrPermanent, err)
	}
	id := gm.GetMessageID()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("notify: send %s: %w", id, err)
	}

	// A kept session first; a server that closed it since answers the
	// first command with an error and nothing was sent, so the message
	// goes once more on a new session. ctx ending closes the session's
	// connection, so a cancelled Send returns promptly instead of waiting
	// out Config.Timeout on a stalled server.
	var sendErr error
	for s, kept := m.idleSession(), true; ; s, kept = nil, false {
		if s == nil {
			if s, err = m.newSession(ctx); err != nil {
				sendErr = err
				break
			}
		} else {
			s.watch(ctx)
		}
		s.sent++
		sendErr = s.client.Send(gm)
		if sendErr == nil {
			m.keep(s)
		} else {
			s.close()
		}
		if gm.IsDelivered() || !kept || ctx.Err() != nil || permanentSMTP(sendErr) {
			break
		}
		m.log.Debug("notify: kept SMTP session failed; sending on a new one", zap.String("message_id", id), zap.Error(m.scrub(sendErr)))
	}

	if gm.IsDelivered() {
		if sendErr != nil {
			// The server took the message; only what followed failed. Retrying would send it twice.
			m.log.Warn("notify: message accepted, resetting the SMTP session failed",
				zap.String("message_id", id), zap.Error(m.scrub(sendErr)))
		}
		m.log.Debug("notify: message sent", zap.String("message_id", id))
		return nil
	}
	if sendErr == nil { // cannot happen with go-mail v0.8: no error means delivered
		return m.scrub(fmt.Errorf("notify: send %s via %s: not delivered", id, m.cfg.redactedURL()))
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		sendErr = fmt.Errorf("%w (%w)", ctxErr, sendErr)
	}
	if permanentSMTP(sendErr) {
		return m.scrub(fmt.Errorf("notify: send %s via %s: %w: %w", id, m.cfg.redactedURL(), ErrPermanent, sendErr))
	}
	return m.scrub(fmt.Errorf("notify: send %s via %s: %w", id, m.cfg.redactedURL(), sendErr))
}

// dial opens the TCP connection, and for smtps performs the TLS handshake, so that go-mail
// sees a *tls.Conn and knows the session is encrypted.
func (m *Mailer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if m.ep.tls != tlsImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, m.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

// newClient returns a go-mail client for one Send, dialling with dial.
func (m *Mailer) newClient(dial mail.DialContextFunc) (*mail.Client, error) {
	return mail.NewClient(m.ep.host, m.clientOptions(dial)...)
}

func (m *Mailer) clientOptions(dial mail.DialContextFunc) []mail.Option {
	// smtps is TLS already (see dial); go-mail's own TLS handling is for STARTTLS only.
	policy := mail.NoTLS
	if m.ep.tls == tlsStartTLS {
		policy = mail.TLSMandatory
	}
	opts := []mail.Option{
		mail.WithPort(m.ep.port),
		mail.WithTimeout(m.cfg.Timeout),
		mail.WithHELO(m.cfg.HeloName),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(m.tlsConfig),
		mail.WithDialContextFunc(dial),
	}
	if m.ep.user != "" {
		// parseURL guarantees the session is TLS or loopback before credentials are sent, and
		// go-mail refuses to go on without STARTTLS under TLSMandatory, so PLAIN and LOGIN are
		// allowed without go-mail's own TLS check (it does not know about our smtps dial).
		opts = append(opts,
			mail.WithOpportunisticSMTPAuth(
				mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc,
			),
			mail.WithUsername(m.ep.user),
			mail.WithPassword(m.ep.pass),
		)
	}
	return opts
}

// reservedHeaders may not be set through Message.Headers.
var reservedHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Bcc": true, "Subject": true, "Date": true,
	"Message-Id": true, "Sender": true, "Mime-Version": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Return-Path": true,
}

// build turns a Message into a go-mail Msg, rejecting what can never be sent.
func (m *Mailer) build(msg Message) (*mail.Msg, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(msg.MessageID), "<"), ">")
	if id == "" {
		return nil, errors.New("MessageID is required")
	}
	if !strings.Contains(id, "@") || strings.ContainsAny(id, "<> \t\r\n") {
		return nil, fmt.Errorf("MessageID %q is not of the form <left@right>", msg.MessageID)
	}
	if _, err := netmail.ParseAddress(msg.To); err != nil {
		return nil, fmt.Errorf("To %q is not an email address: %w", msg.To, err)
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return nil, errors.New("subject contains a line break")
	}
	if msg.Text == "" && msg.HTML == "" {
		return nil, errors.New("text or HTML body is required")
	}

	gm := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := gm.From(m.from); err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	if err := gm.To(msg.To); err != nil {
		return nil, fmt.Errorf("To: %w", err)
	}
	gm.Subject(msg.Subject)
	gm.SetMessageIDWithValue(id) // adds the angle brackets
	gm.SetDate()
	// RFC 3834: keeps vacation responders from answering billing mail.
	gm.SetGenHeader("Auto-Submitted", "auto-generated")
	for k, v := range msg.Headers {
		key := textproto.CanonicalMIMEHeaderKey(k)
		if !validHeaderName(key) {
			return nil, fmt.Errorf("header name %q is invalid", k)
		}
		if reservedHeaders[key] {
			return nil, fmt.Errorf("header %q is set by the mailer", key)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("header %q contains a line break", key)
		}
		gm.SetGenHeader(mail.Header(key), v)
	}

	switch {
	case msg.Text != "" && msg.HTML != "":
		gm.SetBodyString(mail.TypeTextPlain, msg.Text)
		gm.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	case msg.Text != "":
		gm.SetBodyString(mail.TypeTextPlain, msg.Text)
	default:
		gm.SetBodyString(mail.TypeTextHTML, msg.HTML)
	}
	return gm, nil
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == ':' {
			return false
		}
	}
	return true
}

// permanentSMTP reports whether err carries the server's permanent refusal (5xx) of the
// envelope or the content. Refusals elsewhere (EHLO, STARTTLS, AUTH) are our configuration's
// problem, not the message's: they stay temporary so a fix of the config delivers the backlog.
func permanentSMTP(err error) bool {
	var se *mail.SendError
	if !errors.As(err, &se) {
		return false
	}
	switch se.Reason {
	case mail.ErrSMTPMailFrom, mail.ErrSMTPRcptTo, mail.ErrSMTPData, mail.ErrSMTPDataClose:
		code := se.ErrorCode()
		return !se.IsTemp() && code >= 500 && code <= 599
	default:
		return false
	}
}

// scrub hides the SMTP password should it appear in err's text (no known path puts it there;
// this is the belt to parseURL's braces). errors.Is/As still see the wrapped chain.
func (m *Mailer) scrub(err error) error {
	if err == nil || m.ep.pass == "" {
		return err
	}
	text := err.Error()
	clean := text
	for _, secret := range []string{m.ep.pass, url.QueryEscape(m.ep.pass), url.PathEscape(m.ep.pass)} {
		clean = strings.ReplaceAll(clean, secret, "xxxxx")
	}
	if clean == text {
		return err
	}
	return &redactedError{text: clean, err: err}
}

type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// dialUntil is m's dialer whose connections are closed when ctx ends, so a
// cancelled session returns promptly instead of waiting out Config.Timeout
// on a stalled server. stop releases the watch on ctx.
func (m *Mailer) dialUntil(ctx context.Context) (dial func(context.Context, string, string) (net.Conn, error), stop func()) {
	var mu sync.Mutex
	var stops []func() bool
	dial = func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := m.dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		stops = append(stops, context.AfterFunc(ctx, func() { conn.Close() }))
		mu.Unlock()
		return conn, nil
	}
	return dial, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range stops {
			s()
		}
	}
}
