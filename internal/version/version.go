// Package version tells which build of vpnbill is running, from the build
// information the Go toolchain embeds in every binary (module version, VCS
// revision and time, Go version). It owns the one line every command prints
// for --version, and the command line of the commands configured only by
// their environment (webhook, worker).
package version

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is what a binary knows of its own build. Fields the toolchain did not
// record are empty: `go run` and `go test` record no VCS information, and a
// build outside a module records no version.
type Info struct {
	// Module is the main module's path, github.com/vpnbill/vpnbill.
	Module string
	// Version is the main module's version: a release tag (v1.2.0), a
	// pseudo-version of an untagged commit, or "(devel)".
	Version string
	// Revision is the VCS commit the binary was built from (vcs.revision).
	Revision string
	// Time is that commit's time, RFC 3339 (vcs.time).
	Time string
	// Modified is true when the work tree had uncommitted changes (vcs.modified).
	Modified bool
	// Go is the toolchain that built the binary, e.g. go1.26.8.
	Go string
	// Platform is GOOS/GOARCH, e.g. linux/amd64.
	Platform string
}

// Get returns the running binary's build information.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(unknown)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo reads Info from bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	if goos != "" && goarch != "" {
		i.Platform = goos + "/" + goarch
	}
	return i
}

// String is the version line without the command's name:
//
//	v1.2.0 (revision 0123456789ab…, 2026-01-02T03:04:05Z, modified) go1.26.8 linux/amd64
//
// The parenthesis is left out when no VCS information was recorded.
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	var vcs []string
	if i.Revision != "" {
		vcs = append(vcs, "revision "+i.Revision)
	}
	if i.Time != "" {
		vcs = append(vcs, i.Time)
	}
	if i.Modified {
		vcs = append(vcs, "modified")
	}
	if len(vcs) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(vcs, ", "))
	}
	if i.Go != "" {
		b.WriteString(" " + i.Go)
	}
	if i.Platform != "" {
		b.WriteString(" " + i.Platform)
	}
	return b.String()
}

// Line is what `command --version` prints: the command's name, then String.
func (i Info) Line(command string) string { return command + " " + i.String() }

// CommandLine handles the command line of a command configured only by its
// environment, whose one flag is --version (or -version): it prints the
// version line to stdout, or the usage to stderr for --help or anything else
// on the command line. exit tells whether the command must exit now, with
// code: 0 after --version or --help, 2 after a bad command line. With no
// arguments, exit is false and the command runs.
func CommandLine(command string, args []string, stdout, stderr io.Writer) (exit bool, code int) {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	show := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--version]\n\nConfigured by environment variables only: README.md, \"Configuration reference\".\n\n", command)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, 0
		}
		return true, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", command, fs.Arg(0))
		fs.Usage()
		return true, 2
	}
	if *show {
		fmt.Fprintln(stdout, Get().Line(command))
		return true, 0
	}
	return false, 0
}
