package childproc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/childproc"
)

func TestStartWaitStopTail(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "sh.log")
	p, err := childproc.Start("sh", "/bin/sh", []string{"-c", "echo started; exec sleep 60"}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	if err := p.WaitHTTP(context.Background(), srv.URL, 10*time.Second); err != nil {
		t.Fatalf("WaitHTTP of a server answering 200: %v", err)
	}
	// SIGTERM ends sleep: not a clean exit, so Stop says so, with the log.
	err = p.Stop(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "started") {
		t.Fatalf("Stop of a process ended by SIGTERM = %v, want an error with the end of its log", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the process ended")
	}
}

func TestWaitHTTPEndsWithTheProcess(t *testing.T) {
	t.Parallel()
	p, err := childproc.Start("false", "/bin/sh", []string{"-c", "echo bye; exit 3"}, nil, filepath.Join(t.TempDir(), "f.log"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.WaitHTTP(context.Background(), "http://127.0.0.1:1/", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "bye") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("WaitHTTP of a process that ended = %v, want its end and its log", err)
	}
}
