package notify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

const testFrom = "Example VPN <billing@example.com>"

// bundle is what setup returns besides the Mailer.
type bundle struct {
	catcher *mailcatcher.Catcher
	logs    *observer.ObservedLogs
}

// setup starts a mailcatcher with opts on loopback and a Mailer sending to it. url, if not
// empty, replaces the catcher's URL; "%s" in it is replaced by the catcher's address.
func setup(t *testing.T, opts mailcatcher.Options, url string, tune func(*Config)) (*Mailer, bundle) {
	t.Helper()
	opts.Logger = zaptest.NewLogger(t)
	c := harness.Mail(t, opts)
	if url == "" {
		url = c.URL()
	} else {
		url = strings.ReplaceAll(url, "%s", c.Addr())
	}
	cfg := Config{URL: url, From: testFrom}
	if tune != nil {
		tune(&cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	m, err := New(cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, bundle{catcher: c, logs: logs}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func welcomeMessage(t *testing.T) Message {
	t.Helper()
	d := vpnkiData()
	d.MessageID = "<welcome.sub_123.1@vpnbill>"
	d.CustomerName = "Jürgen Müller"
	msg, err := Render(Welcome, d)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestSendDelivers(t *testing.T) {
	t.Parallel()
	m, b := setup(t, mailcatcher.Options{}, "", nil)
	msg := welcomeMessage(t)
	msg.Headers = map[string]string{"X-Vpnbill-Account": "sub_123"}

	if err := m.Send(testCtx(t), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := b.catcher.WaitFor(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.MessageID != "<welcome.sub_123.1@vpnbill>" {
		t.Errorf("Message-ID = %q", r.MessageID)
	}
	if r.From != "billing@example.com" || len(r.To) != 1 || r.To[0] != "ann@example.com" {
		t.Errorf("envelope %q -> %q", r.From, r.To)
	}
	if r.Subject != "Your VPN account is ready" {
		t.Errorf("Subject = %q", r.Subject)
	}
	for _, want := range []string{"Jürgen Müller", "tunnel_4411", "kiPass77", "msk.vpnki.ru"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, r.Text)
		}
		if !strings.Contains(r.HTML, want) {
			t.Errorf("HTML part lacks %q", want)
		}
	}

	parsed, err := netmail.ReadMessage(strings.NewReader(string(r.Raw)))
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Header
	if from, err := h.AddressList("From"); err != nil || from[0].Address != "billing@example.com" || from[0].Name != "Example VPN" {
		t.Errorf("From header = %q (%v)", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ann@example.com" {
		t.Errorf("To header = %q (%v)", h.Get("To"), err)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date header %q: %v", h.Get("Date"), err)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != "multipart/alternative" {
		t.Errorf("Content-Type = %q, want multipart/alternative", h.Get("Content-Type"))
	}
	if h.Get("X-Vpnbill-Account") != "sub_123" || h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("extra headers: X-Vpnbill-Account %q, Auto-Submitted %q", h.Get("X-Vpnbill-Account"), h.Get("Auto-Submitted"))
	}
}

func TestSendConcurrently(t *testing.T) {
	t.Parallel()
	m, b := setup(t, mailcatcher.Options{}, "", nil)
	const n = 8
	errc := make(chan error, n)
	for i := range n {
		go func() {
			msg := welcomeMessage(t)
			msg.MessageID = fmt.Sprintf("<welcome.sub_%d.1@vpnbill>", i)
			errc <- m.Send(testCtx(t), msg)
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Errorf("Send: %v", err)
		}
	}
	got, err := b.catcher.WaitFor(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.MessageID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct Message-IDs delivered, want %d", len(seen), n)
	}
}

func TestSendAddsAngleBrackets(t *testing.T) {
	t.Parallel()
	m, b := setup(t, mailcatcher.Options{}, "", nil)
	msg := welcomeMessage(t)
	msg.MessageID = "resumed.sub_9.2@vpnbill"
	if err := m.Send(testCtx(t), msg); err != nil {
		t.Fatal(err)
	}
	got, err := b.catcher.WaitFor(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].MessageID != "<resumed.sub_9.2@vpnbill>" {
		t.Errorf("Message-ID = %q", got[0].MessageID)
	}
}

func rejectWith(code int, enhanced smtp.EnhancedCode, text string) func(string) *smtp.SMTPError {
	return func(string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
	}
}

func TestSendErrorClasses(t *testing.T) {
	t.Parallel()

	t.Run("550 to RCPT is permanent", func(t *testing.T) {
		t.Parallel()
		m, b := setup(t, mailcatcher.Options{RejectRcpt: rejectWith(550, smtp.EnhancedCode{5, 1, 1}, "mailbox unavailable")}, "", nil)
		err := m.Send(testCtx(t), welcomeMessage(t))
		if !errors.Is(err, ErrPermanent) || !IsPermanent(err) {
			t.Fatalf("Send = %v, want ErrPermanent", err)
		}
		if !strings.Contains(err.Error(), "550") || !strings.Contains(err.Error(), "welcome.sub_123.1@vpnbill") {
			t.Errorf("error should name the code and the message: %v", err)
		}
		if n := len(b.catcher.Messages()); n != 0 {
			t.Errorf("%d messages stored", n)
		}
	})

	t.Run("451 to RCPT is temporary", func(t *testing.T) {
		t.Parallel()
		m, _ := setup(t, mailcatcher.Options{RejectRcpt: rejectWith(451, smtp.EnhancedCode{4, 3, 0}, "try again later")}, "", nil)
		err := m.Send(testCtx(t), welcomeMessage(t))
		if err == nil || IsPermanent(err) {
			t.Fatalf("Send = %v, want a temporary error", err)
		}
		if !strings.Contains(err.Error(), "451") {
			t.Errorf("error should name the code: %v", err)
		}
	})

	t.Run("554 after DATA is permanent", func(t *testing.T) {
		t.Parallel()
		m, b := setup(t, mailcatcher.Options{RejectData: func(mailcatcher.Received) *smtp.SMTPError {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content refused"}
		}}, "", nil)
		if err := m.Send(testCtx(t), welcomeMessage(t)); !IsPermanent(err) {
			t.Fatalf("Send = %v, want ErrPermanent", err)
		}
		if n := len(b.catcher.Messages()); n != 0 {
			t.Errorf("%d messages stored", n)
		}
	})

	t.Run("452 after DATA is temporary", func(t *testing.T) {
		t.Parallel()
		m, _ := setup(t, mailcatcher.Options{RejectData: func(mailcatcher.Received) *smtp.SMTPError {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient storage"}
		}}, "", nil)
		if err := m.Send(testCtx(t), welcomeMessage(t)); err == nil || IsPermanent(err) {
			t.Fatalf("Send = %v, want a temporary error", err)
		}
	})

	t.Run("closed port is temporary", func(t *testing.T) {
		t.Parallel()
		m, err := New(Config{URL: "smtp://" + closedAddr(t), From: testFrom}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(testCtx(t), welcomeMessage(t))
		if err == nil || IsPermanent(err) {
			t.Fatalf("Send = %v, want a temporary error", err)
		}
	})

	t.Run("invalid message is permanent and never dialled", func(t *testing.T) {
		t.Parallel()
		m, b := setup(t, mailcatcher.Options{}, "", nil)
		for name, mutate := range map[string]func(*Message){
			"bad To":              func(m *Message) { m.To = "not-an-address" },
			"no MessageID":        func(m *Message) { m.MessageID = "" },
			"MessageID without @": func(m *Message) { m.MessageID = "<abc>" },
			"no body":             func(m *Message) { m.Text, m.HTML = "", "" },
			"reserved header":     func(m *Message) { m.Headers = map[string]string{"bcc": "x@example.com"} },
			"header injection":    func(m *Message) { m.Headers = map[string]string{"X-A": "1\r\nBcc: x@example.com"} },
			"subject injection":   func(m *Message) { m.Subject = "Hi\r\nBcc: x@example.com" },
		} {
			msg := welcomeMessage(t)
			mutate(&msg)
			if err := m.Send(testCtx(t), msg); !IsPermanent(err) {
				t.Errorf("%s: Send = %v, want a permanent error", name, err)
			}
		}
		if n := len(b.catcher.Messages()); n != 0 {
			t.Errorf("%d invalid messages delivered", n)
		}
	})

	t.Run("cancelled context is temporary and prompt", func(t *testing.T) {
		t.Parallel()
		// A server that accepts the connection but never greets: only ctx can end the Send.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		accepted := make(chan net.Conn, 1)
		go func() {
			conn, err := ln.Accept()
			if err == nil {
				accepted <- conn
			}
			close(accepted)
			cancel()
		}()
		t.Cleanup(func() {
			ln.Close()
			for conn := range accepted {
				conn.Close()
			}
		})
		m, err := New(Config{URL: "smtp://" + ln.Addr().String(), From: testFrom, Timeout: time.Hour}, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Send(ctx, welcomeMessage(t))
		if !errors.Is(err, context.Canceled) || IsPermanent(err) {
			t.Fatalf("Send = %v, want context.Canceled, temporary", err)
		}
	})
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return harness.RefusedAddr(t)
}

func TestSendAuth(t *testing.T) {
	t.Parallel()

	t.Run("plain on loopback", func(t *testing.T) {
		t.Parallel()
		m, b := setup(t, mailcatcher.Options{Username: "relay", Password: "relay-pw"}, "smtp://relay:relay-pw@%s", nil)
		if err := m.Send(testCtx(t), welcomeMessage(t)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := b.catcher.Messages()
		if len(got) != 1 || got[0].AuthUser != "relay" || got[0].TLS {
			t.Errorf("got %d messages, AuthUser %q, TLS %v", len(got), got[0].AuthUser, got[0].TLS)
		}
	})

	t.Run("STARTTLS", func(t *testing.T) {
		t.Parallel()
		serverTLS, clientTLS := testTLS(t)
		m, b := setup(t, mailcatcher.Options{Username: "relay", Password: "relay-pw", TLSConfig: serverTLS},
			"smtp://relay:relay-pw@%s?tls=starttls", func(c *Config) { c.TLSConfig = clientTLS })
		if err := m.Send(testCtx(t), welcomeMessage(t)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := b.catcher.Messages()
		if len(got) != 1 || got[0].AuthUser != "relay" || !got[0].TLS {
			t.Errorf("got %d messages, AuthUser %q, TLS %v", len(got), got[0].AuthUser, got[0].TLS)
		}
	})

	t.Run("smtps", func(t *testing.T) {
		t.Parallel()
		serverTLS, clientTLS := testTLS(t)
		m, b := setup(t, mailcatcher.Options{Username: "relay", Password: "relay-pw", TLSConfig: serverTLS, ImplicitTLS: true},
			"smtps://relay:relay-pw@%s", func(c *Config) { c.TLSConfig = clientTLS })
		if err := m.Send(testCtx(t), welcomeMessage(t)); err != nil {
			t.Fatalf("Send: %v", err)
		}
		got := b.catcher.Messages()
		if len(got) != 1 || got[0].AuthUser != "relay" || !got[0].TLS {
			t.Errorf("got %d messages, AuthUser %q, TLS %v", len(got), got[0].AuthUser, got[0].TLS)
		}
	})

	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		t.Parallel()
		m, b := setup(t, mailcatcher.Options{}, "smtp://%s?tls=starttls", nil)
		err := m.Send(testCtx(t), welcomeMessage(t))
		if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send = %v, want a temporary STARTTLS error", err)
		}
		if n := len(b.catcher.Messages()); n != 0 {
			t.Errorf("%d messages sent without TLS", n)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		t.Parallel()
		serverTLS, _ := testTLS(t)
		m, b := setup(t, mailcatcher.Options{TLSConfig: serverTLS, ImplicitTLS: true}, "", nil)
		err := m.Send(testCtx(t), welcomeMessage(t))
		if err == nil || IsPermanent(err) {
			t.Fatalf("Send = %v, want a temporary TLS error", err)
		}
		if n := len(b.catcher.Messages()); n != 0 {
			t.Errorf("%d messages sent over an unverified connection", n)
		}
	})
}

func TestRemoteHostRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	// Configuration only: nothing dials out of loopback.
	m, err := New(Config{URL: "smtp://user:pw@mail.example.com:25", From: testFrom}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.ep.tls != tlsStartTLS {
		t.Fatalf("tls mode = %s, want starttls", m.ep.tls)
	}
	client, err := m.newClient(func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("this test does not dial")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := client.TLSPolicy(); got != "TLSMandatory" {
		t.Errorf("go-mail TLS policy = %q, want TLSMandatory", got)
	}
	if m.tlsConfig.ServerName != "mail.example.com" {
		t.Errorf("TLS ServerName = %q", m.tlsConfig.ServerName)
	}
}

func TestPasswordNeverRevealed(t *testing.T) {
	t.Parallel()
	const secret = "Zq9-hunter2-secret"

	var errs []error
	var allLogs []observer.LoggedEntry

	// Authentication refused.
	m, b := setup(t, mailcatcher.Options{Username: "relay", Password: "other"}, "smtp://relay:"+secret+"@%s", nil)
	errs = append(errs, m.Send(testCtx(t), welcomeMessage(t)))
	allLogs = append(allLogs, b.logs.All()...)

	// Recipient refused after authentication.
	m, b = setup(t, mailcatcher.Options{RejectRcpt: rejectWith(550, smtp.EnhancedCode{5, 1, 1}, "no such user")}, "smtp://relay:"+secret+"@%s", nil)
	errs = append(errs, m.Send(testCtx(t), welcomeMessage(t)))
	allLogs = append(allLogs, b.logs.All()...)

	// Nothing listening.
	core, logs := observer.New(zapcore.DebugLevel)
	m, err := New(Config{URL: "smtp://relay:" + secret + "@" + closedAddr(t), From: testFrom}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, m.Send(testCtx(t), welcomeMessage(t)))

	// Delivered, with debug logging on.
	m, b = setup(t, mailcatcher.Options{}, "smtp://relay:"+secret+"@%s", nil)
	if err := m.Send(testCtx(t), welcomeMessage(t)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	allLogs = append(allLogs, b.logs.All()...)
	allLogs = append(allLogs, logs.All()...)

	for i, err := range errs[:3] {
		if err == nil {
			t.Errorf("case %d: Send succeeded", i)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals the SMTP password: %v", err)
		}
	}
	if len(allLogs) == 0 {
		t.Fatal("no log lines to check")
	}
	for _, e := range allLogs {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + fmtAny(v)
		}
		if strings.Contains(line, secret) {
			t.Errorf("log line reveals the SMTP password: %s", line)
		}
	}
}

func fmtAny(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case error:
		return v.Error()
	default:
		return strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(v), "\n", " "))
	}
}

// testTLS returns a server config with a fresh self-signed certificate for 127.0.0.1 and a
// client config that trusts exactly that certificate.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailcatcher test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool}
	return server, client
}
