package mailcatcher_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// setup starts a catcher on loopback, closed at the end of the test.
func setup(t *testing.T, opts mailcatcher.Options) *mailcatcher.Catcher {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	return harness.Mail(t, opts)
}

// waitCtx bounds a wait so a broken test fails instead of hanging; no assertion depends on it.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A multipart/alternative message as a real mailer writes it: quoted-printable text,
// base64 HTML, an RFC 2047 subject, UTF-8 throughout.
const rawMessage = "From: Billing <billing@example.com>\r\n" +
	"To: ann@example.com\r\n" +
	"Subject: =?UTF-8?q?Your_VPN_account_is_ready_=E2=9C=93?=\r\n" +
	"Message-ID: <welcome.sub_1.1@vpnbill>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello J=C3=BCrgen,\r\n" +
	"Username: vpn_user_42 Password: s3cr=3Dt-pass and a long line that is soft-=\r\n" +
	"wrapped.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+SGVsbG8gSsO8cmdlbiw8L3A+PHA+PGNvZGU+dnBuX3VzZXJfNDI8L2NvZGU+PC9wPg==\r\n" +
	"--b1--\r\n"

func send(t *testing.T, addr string, auth smtp.Auth, from string, to []string, msg string) error {
	t.Helper()
	return smtp.SendMail(addr, auth, from, to, []byte(msg))
}

func TestReceivedIsDecoded(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		onCalls []mailcatcher.Received
	)
	c := setup(t, mailcatcher.Options{OnMessage: func(r mailcatcher.Received) {
		mu.Lock()
		defer mu.Unlock()
		onCalls = append(onCalls, r)
	}})

	if err := send(t, c.Addr(), nil, "billing@example.com", []string{"ann@example.com"}, rawMessage); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	got, err := c.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
	r := got[0]
	if r.From != "billing@example.com" || len(r.To) != 1 || r.To[0] != "ann@example.com" {
		t.Errorf("envelope = %q -> %q", r.From, r.To)
	}
	if r.Subject != "Your VPN account is ready ✓" {
		t.Errorf("Subject = %q", r.Subject)
	}
	if r.MessageID != "<welcome.sub_1.1@vpnbill>" {
		t.Errorf("MessageID = %q", r.MessageID)
	}
	for _, want := range []string{"Hello Jürgen,", "vpn_user_42", "s3cr=t-pass", "soft-wrapped."} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("Text lacks %q:\n%s", want, r.Text)
		}
	}
	if r.HTML != "<p>Hello Jürgen,</p><p><code>vpn_user_42</code></p>" {
		t.Errorf("HTML = %q", r.HTML)
	}
	if !strings.Contains(string(r.Raw), "Content-Transfer-Encoding: base64") {
		t.Errorf("Raw is not the message as sent:\n%s", r.Raw)
	}
	if r.Path != "" {
		t.Errorf("Path = %q without Dir", r.Path)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(onCalls) != 1 || onCalls[0].MessageID != r.MessageID {
		t.Errorf("OnMessage calls = %d", len(onCalls))
	}
}

func TestMessagesAreCopies(t *testing.T) {
	t.Parallel()
	c := setup(t, mailcatcher.Options{})
	if err := send(t, c.Addr(), nil, "a@example.com", []string{"b@example.com"}, rawMessage); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	got, err := c.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	got[0].To[0] = "mallory@example.com"
	got[0].Raw[0] = 'X'
	again := c.Messages()
	if again[0].To[0] != "b@example.com" || again[0].Raw[0] != 'F' {
		t.Errorf("caller's changes leaked into the catcher: %q %q", again[0].To, again[0].Raw[:1])
	}
}

func TestEMLWritten(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "mail")
	c := setup(t, mailcatcher.Options{Dir: dir})

	if err := send(t, c.Addr(), nil, "a@example.com", []string{"b@example.com"}, rawMessage); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	got, err := c.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if filepath.Dir(r.Path) != dir || !strings.HasSuffix(r.Path, ".eml") {
		t.Fatalf("Path = %q, want an .eml in %s", r.Path, dir)
	}
	data, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(r.Raw) {
		t.Errorf(".eml content differs from Raw")
	}
	fi, err := os.Stat(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf(".eml mode = %v, want 0600 (it holds passwords)", perm)
	}
}

func TestWaitFor(t *testing.T) {
	t.Parallel()

	t.Run("blocks until n messages", func(t *testing.T) {
		t.Parallel()
		c := setup(t, mailcatcher.Options{})
		type result struct {
			msgs []mailcatcher.Received
			err  error
		}
		done := make(chan result, 1)
		go func() {
			msgs, err := c.WaitFor(waitCtx(t), 2)
			done <- result{msgs, err}
		}()
		for i := range 2 {
			msg := strings.Replace(rawMessage, "sub_1.1", "sub_1."+string(rune('a'+i)), 1)
			if err := send(t, c.Addr(), nil, "a@example.com", []string{"b@example.com"}, msg); err != nil {
				t.Fatalf("SendMail: %v", err)
			}
		}
		res := <-done
		if res.err != nil {
			t.Fatalf("WaitFor: %v", res.err)
		}
		if len(res.msgs) != 2 || res.msgs[0].MessageID != "<welcome.sub_1.a@vpnbill>" || res.msgs[1].MessageID != "<welcome.sub_1.b@vpnbill>" {
			t.Errorf("got %d messages in order %v", len(res.msgs), ids(res.msgs))
		}
	})

	t.Run("context done", func(t *testing.T) {
		t.Parallel()
		c := setup(t, mailcatcher.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.WaitFor(ctx, 1); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitFor = %v, want context.Canceled", err)
		}
	})

	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		c := setup(t, mailcatcher.Options{})
		errc := make(chan error, 1)
		go func() {
			_, err := c.WaitFor(waitCtx(t), 1)
			errc <- err
		}()
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, mailcatcher.ErrClosed) {
			t.Errorf("WaitFor after Close = %v, want ErrClosed", err)
		}
	})
}

func ids(msgs []mailcatcher.Received) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.MessageID
	}
	return out
}

func TestRejectRcpt(t *testing.T) {
	t.Parallel()
	c := setup(t, mailcatcher.Options{RejectRcpt: func(addr string) *gosmtp.SMTPError {
		if addr == "gone@example.com" {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		}
		return nil
	}})

	err := send(t, c.Addr(), nil, "a@example.com", []string{"gone@example.com"}, rawMessage)
	var tpErr *textproto.Error
	if !errors.As(err, &tpErr) || tpErr.Code != 550 {
		t.Fatalf("SendMail = %v, want a 550", err)
	}
	if err := send(t, c.Addr(), nil, "a@example.com", []string{"ok@example.com"}, rawMessage); err != nil {
		t.Fatalf("SendMail to an accepted address: %v", err)
	}
	got, err := c.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].To[0] != "ok@example.com" {
		t.Errorf("stored %d messages, first to %q; the refused one must not be stored", len(got), got[0].To)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()

	t.Run("configured credentials are required", func(t *testing.T) {
		t.Parallel()
		c := setup(t, mailcatcher.Options{Username: "relay", Password: "relay-pass"})
		host := "127.0.0.1"

		err := send(t, c.Addr(), nil, "a@example.com", []string{"b@example.com"}, rawMessage)
		if err == nil {
			t.Error("unauthenticated send accepted")
		}
		err = send(t, c.Addr(), smtp.PlainAuth("", "relay", "wrong", host), "a@example.com", []string{"b@example.com"}, rawMessage)
		var tpErr *textproto.Error
		if !errors.As(err, &tpErr) || tpErr.Code != 535 {
			t.Errorf("wrong password: %v, want 535", err)
		}
		if err := send(t, c.Addr(), smtp.PlainAuth("", "relay", "relay-pass", host), "a@example.com", []string{"b@example.com"}, rawMessage); err != nil {
			t.Fatalf("authenticated send: %v", err)
		}
		got := c.Messages()
		if len(got) != 1 || got[0].AuthUser != "relay" {
			t.Errorf("messages = %d, AuthUser = %q", len(got), got[0].AuthUser)
		}
	})

	t.Run("any credentials without configuration", func(t *testing.T) {
		t.Parallel()
		c := setup(t, mailcatcher.Options{})
		if err := send(t, c.Addr(), smtp.PlainAuth("", "whoever", "whatever", "127.0.0.1"), "a@example.com", []string{"b@example.com"}, rawMessage); err != nil {
			t.Fatalf("send: %v", err)
		}
		if got := c.Messages(); len(got) != 1 || got[0].AuthUser != "whoever" {
			t.Errorf("AuthUser = %q", got[0].AuthUser)
		}
	})
}

func TestNeverLogsBodies(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.DebugLevel)
	c := setup(t, mailcatcher.Options{Logger: zap.New(core)})
	if err := send(t, c.Addr(), nil, "a@example.com", []string{"b@example.com"}, rawMessage); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitFor(waitCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	sawID := false
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.Join(strings.Fields(strings.TrimSpace(toString(v))), " ")
		}
		if strings.Contains(line, "vpn_user_42") || strings.Contains(line, "s3cr") {
			t.Errorf("log line holds message content: %s", line)
		}
		if strings.Contains(line, "<welcome.sub_1.1@vpnbill>") {
			sawID = true
		}
	}
	if !sawID {
		t.Error("no debug line names the Message-ID")
	}
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, toString(p))
		}
		return strings.Join(parts, ",")
	default:
		return ""
	}
}

func TestCloseEndsOpenSessions(t *testing.T) {
	t.Parallel()
	c := mailcatcher.New(mailcatcher.Options{Logger: zaptest.NewLogger(t)})
	if err := c.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// An idle client holding a session open must not keep Close (or a goroutine) waiting.
	conn, err := net.Dial("tcp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(greeting, "220 ") {
		t.Fatalf("greeting %q, %v", greeting, err)
	}

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The server hung up: the read ends (EOF or reset) rather than running into the deadline.
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var netErr net.Error
	if _, err := io.ReadAll(conn); errors.As(err, &netErr) && netErr.Timeout() {
		t.Error("session still open after Close")
	}
	if err := c.Start("127.0.0.1:0"); !errors.Is(err, mailcatcher.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	// goleak in TestMain checks that no goroutine outlives the test binary's tests.
}

func TestURL(t *testing.T) {
	t.Parallel()
	c := setup(t, mailcatcher.Options{})
	if want := "smtp://" + c.Addr(); c.URL() != want {
		t.Errorf("URL = %q, want %q", c.URL(), want)
	}
	if !strings.HasPrefix(c.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %q", c.Addr())
	}
}
