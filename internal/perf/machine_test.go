package perf_test

import (
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/perf"
)

func TestParseCPUModel(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)  CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n",
			"Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"arm64 names a part", "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n", "CPU part 0xd0c"},
		{"nothing", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := perf.ParseCPUModel(strings.NewReader(tc.in)); got != tc.want {
				t.Errorf("ParseCPUModel = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	t.Parallel()
	got, err := perf.ParseMemTotal(strings.NewReader("MemTotal:       24683520 kB\nMemFree:        20915200 kB\n"))
	if err != nil || got != 24683520<<10 {
		t.Errorf("ParseMemTotal = %d, %v", got, err)
	}
	if _, err := perf.ParseMemTotal(strings.NewReader("MemFree: 1 kB\n")); err == nil {
		t.Error("ParseMemTotal without MemTotal: no error")
	}
}

func TestMachineString(t *testing.T) {
	t.Parallel()
	m := perf.Machine{Cores: 2, Memory: 3 << 30, CPU: "Xeon", Go: "go1.26.8", OS: "linux", Arch: "amd64"}
	if got, want := m.String(), "2 cores, 3.0 GiB memory, Xeon, go1.26.8 linux/amd64"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
