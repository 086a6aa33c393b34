package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	// No configuration at all: --version needs none.
	code := execute(context.Background(), []string{"--version"}, nil, &stdout, &stderr)
	out := stdout.String()
	if code != exitOK || !strings.HasPrefix(out, "vpnbillctl ") || !strings.Contains(out, runtime.Version()) || strings.Count(out, "\n") != 1 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want one line 'vpnbillctl <version> … %s'", code, out, stderr.String(), runtime.Version())
	}
}
