package perf

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what a reader needs to know of the machine a run was made on.
type Machine struct {
	// Cores is the number of logical CPUs the run could use.
	Cores int
	// Memory is the total memory, in bytes (0: unknown).
	Memory uint64
	// CPU is the CPU model, as /proc/cpuinfo names it ("" if unknown).
	CPU string
	// Go is the Go version the run was built with.
	Go string
	// OS and Arch are runtime.GOOS and runtime.GOARCH.
	OS, Arch string
}

// ReadMachine describes this machine. What /proc does not say is left
// empty, never guessed.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(f)
		_ = f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		m.Memory, _ = ParseMemTotal(f)
		_ = f.Close()
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo's text
// (on arm64, where there is none, the first "CPU part"), or "".
func ParseCPUModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	var part string
	for sc.Scan() {
		key, value, found := strings.Cut(sc.Text(), ":")
		if !found {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name":
			return strings.Join(strings.Fields(value), " ")
		case "CPU part":
			if part == "" {
				part = "CPU part " + strings.TrimSpace(value)
			}
		}
	}
	return part
}

// ParseMemTotal returns MemTotal from /proc/meminfo's text, in bytes.
func ParseMemTotal(r io.Reader) (uint64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		value, found := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !found {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("meminfo: unexpected MemTotal %q", strings.TrimSpace(value))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meminfo: MemTotal: %w", err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("meminfo: no MemTotal")
}

// String is the machine in one line, e.g. "2 cores, 23.5 GiB, Intel(R)
// Xeon(R) ..., go1.26.8 linux/amd64".
func (m Machine) String() string {
	parts := []string{fmt.Sprintf("%d cores", m.Cores)}
	if m.Memory > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB memory", float64(m.Memory)/(1<<30)))
	}
	if m.CPU != "" {
		parts = append(parts, m.CPU)
	}
	return strings.Join(append(parts, m.Go+" "+m.OS+"/"+m.Arch), ", ")
}
