package notify

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

// proxy forwards loopback TCP connections to addr, counting them; cut
// closes every connection open now, as a server's idle timeout does.
type proxy struct {
	ln    net.Listener
	conns atomic.Int64
	mu    sync.Mutex
	open  []net.Conn
}

func newProxy(t *testing.T, addr string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, s)
			p.mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(s, c); s.Close() })
			wg.Go(func() { _, _ = io.Copy(c, s); c.Close() })
		}
	})
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

func numbered(t *testing.T, i int) Message {
	t.Helper()
	m := welcomeMessage(t)
	m.MessageID = fmt.Sprintf("<welcome.sub_%d.1@vpnbill>", i)
	return m
}

// Sends one after another share one SMTP session; a session the server
// has closed meanwhile costs nothing but a new one: every message arrives
// exactly once.
func TestSendKeepsSessionsOpen(t *testing.T) {
	t.Parallel()
	catcher := harness.Mail(t, mailcatcher.Options{Logger: zaptest.NewLogger(t)})
	p2 := newProxy(t, catcher.Addr())
	mm, err := New(Config{URL: "smtp://" + p2.ln.Addr().String(), From: testFrom}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mm.Close() })
	ctx := testCtx(t)

	for i := range 10 {
		if err := mm.Send(ctx, numbered(t, i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := p2.conns.Load(); n != 1 {
		t.Errorf("10 emails one after another took %d SMTP connections, want 1", n)
	}

	// The server drops the idle session: the next email goes on a new one.
	p2.cut()
	for i := 10; i < 12; i++ {
		if err := mm.Send(ctx, numbered(t, i)); err != nil {
			t.Fatalf("send %d after the session was cut: %v", i, err)
		}
	}
	if n := p2.conns.Load(); n != 2 {
		t.Errorf("after a cut session: %d connections in all, want 2", n)
	}

	// A session carries at most sessionMessages.
	for i := 12; i < 12+sessionMessages; i++ {
		if err := mm.Send(ctx, numbered(t, i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if n := p2.conns.Load(); n != 3 {
		t.Errorf("after %d more emails: %d connections in all, want 3", sessionMessages, n)
	}

	got := map[string]int{}
	for _, r := range catcher.Messages() {
		got[r.MessageID]++
	}
	for i := range 12 + sessionMessages {
		if id := fmt.Sprintf("<welcome.sub_%d.1@vpnbill>", i); got[id] != 1 {
			t.Errorf("%s arrived %d times, want once", id, got[id])
		}
	}
	if len(got) != 12+sessionMessages {
		t.Errorf("%d distinct messages arrived, want %d", len(got), 12+sessionMessages)
	}
}

// IdleSessions sessions are kept between rounds of that many emails sent at
// once: the rounds after the first open none (fewer kept would close and
// open sessions every round).
func TestIdleSessionsKeptBetweenConcurrentRounds(t *testing.T) {
	t.Parallel()
	catcher := harness.Mail(t, mailcatcher.Options{})
	p := newProxy(t, catcher.Addr())
	const at, rounds = 24, 3 // more than the default of 16
	mm, err := New(Config{URL: "smtp://" + p.ln.Addr().String(), From: testFrom, IdleSessions: at}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mm.Close() })
	ctx := testCtx(t)
	for r := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, at)
		start := make(chan struct{})
		for i := range at {
			wg.Go(func() {
				<-start
				errs <- mm.Send(ctx, numbered(t, r*at+i))
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
	if n := p.conns.Load(); n > at {
		t.Errorf("%d rounds of %d emails at once took %d SMTP connections, want at most %d", rounds, at, n, at)
	}
	if n := len(catcher.Messages()); n != rounds*at {
		t.Errorf("%d messages arrived, want %d", n, rounds*at)
	}
}
