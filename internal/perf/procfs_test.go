package perf_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/perf"
)

const sampleStatus = `Name:	worker
Umask:	0022
State:	S (sleeping)
VmPeak:	 1261244 kB
VmSize:	 1261244 kB
VmHWM:	   31232 kB
VmRSS:	   29184 kB
Threads:	9
`

func TestParseProcStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    perf.ProcMemory
		wantErr bool
	}{
		{"a process", sampleStatus, perf.ProcMemory{PeakRSS: 31232 << 10, RSS: 29184 << 10}, false},
		{"a kernel thread has no VmHWM", "Name:\tkthreadd\nState:\tS (sleeping)\n", perf.ProcMemory{}, true},
		{"a unit it does not know", "VmHWM:\t12 MB\n", perf.ProcMemory{}, true},
		{"not a number", "VmHWM:\tlots kB\n", perf.ProcMemory{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := perf.ParseProcStatus(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseProcStatus = %+v, %v; want %+v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"a process", "4242 (worker) S 1 4242 4242 0 -1 4194560 1735 0 0 0 250 37 0 0 20 0 9 0 1234 1291599872 7296 18446744073709551615",
			2870 * time.Millisecond, false},
		{"a name with spaces and parentheses", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1 1",
			70 * time.Millisecond, false},
		{"no name", "7 R 1", 0, true},
		{"too short", "7 (x) R 1 7 7", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := perf.ParseProcStat([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseProcStat = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReadsThisProcess(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	m, err := perf.ReadProcMemory(os.Getpid())
	if err != nil || m.PeakRSS == 0 || m.PeakRSS < m.RSS {
		t.Errorf("ReadProcMemory = %+v, %v; want a peak at least the RSS", m, err)
	}
	if _, err := perf.ReadProcCPU(os.Getpid()); err != nil {
		t.Errorf("ReadProcCPU: %v", err)
	}
}
