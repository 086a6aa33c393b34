package perf_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpnbill/vpnbill/internal/perf"
)

func TestParseSamples(t *testing.T) {
	t.Parallel()
	in := `# HELP go_memstats_alloc_bytes_total Total number of bytes allocated.
# TYPE go_memstats_alloc_bytes_total counter
go_memstats_alloc_bytes_total 1.2345678e+07
go_gc_duration_seconds{quantile="0.5"} 4.1e-05
go_gc_duration_seconds_count 17
weird{a="x } y",b="say \"}\""} 3 1700000000000
process_virtual_memory_max_bytes +Inf

`
	got, err := perf.ParseSamples(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := perf.Samples{
		"go_memstats_alloc_bytes_total":          12345678,
		`go_gc_duration_seconds{quantile="0.5"}`: 4.1e-05,
		"go_gc_duration_seconds_count":           17,
		`weird{a="x } y",b="say \"}\""}`:         3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want)+1 {
		t.Errorf("got %d samples, want %d: %v", len(got), len(want)+1, got)
	}

	for _, bad := range []string{"metric_without_value\n", `m{a="unterminated 1` + "\n", "m 1 2 3\n", "m one\n", "{} 1\n"} {
		if _, err := perf.ParseSamples(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseSamples(%q): no error", bad)
		}
	}
}

// TestScrapeReadsAGoProcess reads what the webhook's and worker's
// registries serve: the Go collector's counters the benchmark divides.
func TestScrapeReadsAGoProcess(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	s, err := perf.Scrape(context.Background(), http.DefaultClient, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go_memstats_alloc_bytes_total", "go_memstats_mallocs_total", "go_gc_duration_seconds_count"} {
		if _, ok := s[name]; !ok {
			t.Errorf("no %s in the scrape", name)
		}
	}
	if _, err := perf.Scrape(context.Background(), http.DefaultClient, srv.URL+"/../nothing-here\x7f"); err == nil {
		t.Error("Scrape of a bad URL: no error")
	}
}
