package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// The steps of an SMTP session before a message, in order; a CheckError
// names the one that failed.
const (
	StepConnect  = "connect"  // TCP connection, smtps's TLS handshake, the server's greeting
	StepEHLO     = "EHLO"     // EHLO (or HELO)
	StepSTARTTLS = "STARTTLS" // the server offers STARTTLS, and the TLS handshake after it succeeds
	StepAUTH     = "AUTH"     // SMTP AUTH with SMTP_URL's credentials
)

// CheckError is a failed Check: the step that failed and why. Its text
// never holds the password.
type CheckError struct {
	Step string
	Err  error
}

func (e *CheckError) Error() string { return fmt.Sprintf("smtp %s: %v", e.Step, e.Err) }
func (e *CheckError) Unwrap() error { return e.Err }

// Checked is what a Check that succeeded went through.
type Checked struct {
	Addr string // host:port dialled
	TLS  string // how the session was secured: "starttls", "implicit" (smtps) or "none"
	Auth bool   // whether it authenticated
}

// Check opens an SMTP session as Send does — connect, EHLO, STARTTLS where
// the URL requires it, AUTH where it carries credentials — and quits
// without sending anything. Its error is a *CheckError naming the step that
// failed. The session is Send's own (the same client and options); only when
// it fails is a second, step-by-step session opened to find the step: if
// every step up to STARTTLS passes in it, AUTH is the one that failed.
// ctx bounds both sessions; Config.Timeout bounds each step.
func (m *Mailer) Check(ctx context.Context) (Checked, error) {
	ok := Checked{Addr: net.JoinHostPort(m.ep.host, strconv.Itoa(m.ep.port)), TLS: m.ep.tls.String(), Auth: m.ep.user != ""}
	dial, stop := m.dialUntil(ctx)
	defer stop()
	client, err := m.newClient(dial)
	if err != nil {
		return ok, m.scrub(&CheckError{Step: StepConnect, Err: err})
	}
	sessionErr := client.DialWithContext(ctx)
	if sessionErr == nil {
		_ = client.Close() // QUIT; the session did all it had to
		return ok, nil
	}
	step, err := m.probe(ctx, ok.Addr)
	if err == nil {
		// Every step but AUTH passed on its own: AUTH failed (or, without
		// credentials, the session failed where the probe did not).
		step, err = StepAUTH, sessionErr
		if m.ep.user == "" {
			step = StepEHLO
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return ok, m.scrub(&CheckError{Step: step, Err: err})
}

// probe goes through the steps before AUTH one at a time, and returns the
// step that failed and its error, or nil if all passed.
func (m *Mailer) probe(ctx context.Context, addr string) (string, error) {
	conn, err := m.dial(ctx, "tcp", addr)
	if err != nil {
		return StepConnect, err
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	_ = conn.SetDeadline(time.Now().Add(m.cfg.Timeout))
	c, err := smtp.NewClient(conn, m.ep.host)
	if err != nil {
		conn.Close()
		return StepConnect, err
	}
	defer c.Close()
	if err := c.Hello(m.cfg.HeloName); err != nil {
		return StepEHLO, err
	}
	if m.ep.tls == tlsStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return StepSTARTTLS, errors.New("the server does not offer STARTTLS, which SMTP_URL requires (smtp:// to a host that is not loopback, or ?tls=starttls)")
		}
		_ = conn.SetDeadline(time.Now().Add(m.cfg.Timeout))
		if err := c.StartTLS(m.tlsConfig); err != nil {
			return StepSTARTTLS, err
		}
	}
	_ = c.Quit()
	return "", nil
}
