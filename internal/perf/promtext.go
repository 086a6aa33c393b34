package perf

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Samples are the samples of one Prometheus text exposition, keyed by the
// metric name and, for a labelled sample, its labels as written
// (`go_gc_duration_seconds_count`, `process_cpu_seconds_total`,
// `vpnbill_worker_events_total{consumer="worker",outcome="ack"}`).
type Samples map[string]float64

// ParseSamples reads a Prometheus text exposition (version 0.0.4): comment
// lines are skipped, a timestamp after the value is ignored.
func ParseSamples(r io.Reader) (Samples, error) {
	s := Samples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest, err := splitSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return nil, fmt.Errorf("metrics line %d: want a value and an optional timestamp after %s", n, key)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n, err)
		}
		s[key] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// splitSample splits a sample line into its name with labels and the rest.
// Label values are quoted and may hold spaces, braces and escaped quotes.
func splitSample(line string) (key, rest string, err error) {
	open := strings.IndexAny(line, "{ \t")
	if open <= 0 {
		return "", "", fmt.Errorf("no metric name in %q", line)
	}
	if line[open] != '{' {
		return line[:open], line[open:], nil
	}
	quoted := false
	for i := open + 1; i < len(line); i++ {
		switch c := line[i]; {
		case quoted && c == '\\':
			i++ // the escaped character
		case c == '"':
			quoted = !quoted
		case !quoted && c == '}':
			return line[:i+1], line[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated labels in %q", line)
}

// Scrape fetches and parses the exposition at url (a /metrics endpoint).
func Scrape(ctx context.Context, client *http.Client, url string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	s, err := ParseSamples(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	return s, nil
}
