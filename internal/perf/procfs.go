package perf

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcMemory is what /proc/<pid>/status says of a process's memory.
type ProcMemory struct {
	// PeakRSS is VmHWM, the largest resident set the process has had, in bytes.
	PeakRSS uint64
	// RSS is VmRSS, its resident set now, in bytes.
	RSS uint64
}

// ParseProcStatus reads VmHWM and VmRSS from the text of /proc/<pid>/status.
// It fails if VmHWM is absent (a kernel thread, or not Linux).
func ParseProcStatus(r io.Reader) (ProcMemory, error) {
	var m ProcMemory
	var sawPeak bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, found := strings.Cut(sc.Text(), ":")
		if !found || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return ProcMemory{}, fmt.Errorf("proc status: %s: unexpected value %q", key, strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return ProcMemory{}, fmt.Errorf("proc status: %s: %w", key, err)
		}
		if key == "VmHWM" {
			m.PeakRSS, sawPeak = kb<<10, true
		} else {
			m.RSS = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return ProcMemory{}, fmt.Errorf("proc status: %w", err)
	}
	if !sawPeak {
		return ProcMemory{}, fmt.Errorf("proc status: no VmHWM")
	}
	return m, nil
}

// ReadProcMemory reads /proc/<pid>/status.
func ReadProcMemory(pid int) (ProcMemory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMemory{}, err
	}
	defer f.Close()
	return ParseProcStatus(f)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ParseProcStat returns the CPU time (user + system) a process has used,
// from the text of /proc/<pid>/stat.
func ParseProcStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces or
	// parentheses itself: the fields that follow start after the last ')'.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, fmt.Errorf("proc stat: no command name")
	}
	fields := strings.Fields(string(b[end+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("proc stat: %d fields after the command name, want more than %d", len(fields), stime)
	}
	var ticks uint64
	for _, i := range []int{utime, stime} {
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat: field %d: %w", i+3, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ReadProcCPU reads the CPU time a process has used from /proc/<pid>/stat.
func ReadProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseProcStat(b)
}
