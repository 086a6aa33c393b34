package main

import (
	"fmt"
	"os"
	"strings"
)

// envFileName is the file, in the data directory, that holds the
// environment pointing vpnbillctl at the demo.
const envFileName = "vpnbillctl.env"

// envVar is one variable of that environment, named as in
// internal/envconfig (the README's configuration reference).
type envVar struct{ name, value string }

// environment is the demo's configuration as the operator's variables: the
// demo reads its own configuration from it (envconfig.LoadCtlFrom), so
// what vpnbillctl is given is what the demo runs with.
type environment []envVar

// list is the environment as NAME=value pairs, as os.Environ returns.
func (e environment) list() []string {
	out := make([]string, 0, len(e))
	for _, v := range e {
		out = append(out, v.name+"="+v.value)
	}
	return out
}

// writeEnvFile writes env to path as shell assignments, for
// `set -a; . path; set +a`, after a comment of header lines. The file is
// the owner's only (mode 0600), even one that existed with another mode:
// it holds the demo's keys and passwords.
func writeEnvFile(path string, env environment, header []string) error {
	var b strings.Builder
	for _, h := range header {
		b.WriteString(strings.TrimRight("# "+h, " ") + "\n")
	}
	for _, v := range env {
		fmt.Fprintf(&b, "%s=%s\n", v.name, shellQuote(v.value))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("vpnbillctl environment: %w", err)
	}
	// Before anything is written: O_CREATE's mode is not applied to a file
	// that was there.
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return fmt.Errorf("vpnbillctl environment: %w", err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return fmt.Errorf("vpnbillctl environment: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vpnbillctl environment: %w", err)
	}
	return nil
}

// shellQuote is s as one word of a POSIX shell, taken literally.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellWord is s as one word of a POSIX shell: s itself if it needs no
// quoting (so that printed commands read plainly), else quoted.
func shellWord(s string) string {
	plain := func(r rune) bool {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@=+,", r)
	}
	for _, r := range s {
		if !plain(r) {
			return shellQuote(s)
		}
	}
	if s == "" {
		return shellQuote(s)
	}
	return s
}
