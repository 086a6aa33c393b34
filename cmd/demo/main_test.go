package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The README's first command must work: the sample checkout ends in an
// account at the simulator and a welcome email, and -once exits cleanly.
func TestDemoOnceCompletesTheSample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"-once", "-addr", "127.0.0.1:0", "-data", t.TempDir()}, &out); err != nil {
		t.Fatalf("demo -once: %v", err) // the output holds the sample's password: not printed
	}
	for _, want := range []string{`webhook answered 200 {"status":"stored"}`, "Your VPN account is ready", "✓ PureVPN simulator holds account", ".eml"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
