package version_test

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/version"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{
			name: "release build from a clean tree",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vpnbill/vpnbill", Version: "v1.2.0"},
				Settings: []debug.BuildSetting{
					{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "amd64"},
					{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
					{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "false"},
				}},
			want: "webhook v1.2.0 (revision 0123456789abcdef0123456789abcdef01234567, 2026-01-02T03:04:05Z) go1.26.8 linux/amd64",
		},
		{
			name: "untagged commit with local changes",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
				Settings: []debug.BuildSetting{
					{Key: "vcs.revision", Value: "0123456789ab"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
					{Key: "vcs.modified", Value: "true"},
				}},
			want: "webhook v0.0.0-20260102030405-0123456789ab+dirty (revision 0123456789ab, 2026-01-02T03:04:05Z, modified) go1.26.8",
		},
		{
			name: "go run: no VCS information, no version",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8"},
			want: "webhook (devel) go1.26.8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := version.FromBuildInfo(&tt.bi).Line("webhook"); got != tt.want {
				t.Errorf("Line:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestGetNamesTheToolchain(t *testing.T) {
	t.Parallel()
	i := version.Get()
	if i.Go == "" || i.Version == "" {
		t.Errorf("Get() = %+v: want the Go version and a module version", i)
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args           []string
		exit           bool
		code           int
		stdout, stderr string
	}{
		{args: nil, exit: false, code: 0},
		{args: []string{"--version"}, exit: true, code: 0, stdout: "webhook "},
		{args: []string{"-version"}, exit: true, code: 0, stdout: "webhook "},
		{args: []string{"--help"}, exit: true, code: 0, stderr: "usage: webhook [--version]"},
		{args: []string{"--verbose"}, exit: true, code: 2, stderr: "usage: webhook [--version]"},
		{args: []string{"serve"}, exit: true, code: 2, stderr: `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			exit, code := version.CommandLine("webhook", tt.args, &stdout, &stderr)
			if exit != tt.exit || code != tt.code {
				t.Errorf("CommandLine(%q) = %v, %d; want %v, %d", tt.args, exit, code, tt.exit, tt.code)
			}
			if !strings.HasPrefix(stdout.String(), tt.stdout) || (tt.stdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), tt.stdout)
			}
			if !strings.Contains(stderr.String(), tt.stderr) || (tt.stderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want it to hold %q", stderr.String(), tt.stderr)
			}
		})
	}
}
