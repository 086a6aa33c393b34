package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The environment file is the owner's only, even where a file of another
// mode was (a -data directory used again), and a shell that sources it
// gets every value exactly, whatever characters it holds.
func TestEnvFileIsPrivateAndSourcedExactly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "dir with space", envFileName)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("OLD=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := environment{
		{"MAIL_FROM", "VPN Shop <support@vpnshop.example>"},
		{"QUOTED", `it's "$HOME" and $(id) and \n`},
		{"EMPTY", ""},
	}
	if err := writeEnvFile(path, env, []string{"a comment", "", "  set -a; . " + shellWord(path) + "; set +a"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got := sourced(t, "set -a; . "+shellWord(path)+"; set +a")
	for _, v := range env {
		if got[v.name] != v.value {
			t.Errorf("%s = %q after sourcing, want %q", v.name, got[v.name], v.value)
		}
	}
	if _, ok := got["OLD"]; ok {
		t.Error("the file kept what was there before")
	}
}

func TestShellWord(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"/tmp/vpnbill-demo-1/vpnbillctl.env", "/a b/c", "it's", "", "$x", "a;b", "ada@example.com"} {
		out, err := exec.Command("sh", "-c", `printf %s `+shellWord(s)).Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != s {
			t.Errorf("sh reads shellWord(%q) = %s as %q", s, shellWord(s), out)
		}
	}
	if w := shellWord("/tmp/vpnbill-demo-1/vpnbillctl.env"); strings.Contains(w, "'") {
		t.Errorf("a plain path is quoted: %s", w)
	}
}
