package metrics_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/metrics"
)

// TestAlertRulesUseExposedMetrics keeps deploy/prometheus/alerts.yml and
// this package in step: every metric a rule reads exists, and every rule
// tells the operator what to run.
func TestAlertRulesUseExposedMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}

	x := setupWorld(t)
	if err := metrics.RegisterWebhook(x.reg, &ingest.Stats{}); err != nil {
		t.Fatal(err)
	}
	x.exercise(t) // so every vector has a series
	families, err := x.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range families {
		exposed[f.GetName()] = true
	}

	name := regexp.MustCompile(`vpnbill_[a-z_]+`)
	rules := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			rules++
			for _, m := range name.FindAllString(r.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && exposed[b] {
						base = b
					}
				}
				if !exposed[base] {
					t.Errorf("alert %s reads %s, which vpnbill does not expose", r.Alert, m)
				}
			}
			if r.Annotations["summary"] == "" || !strings.Contains(r.Annotations["description"], "vpnbillctl ") {
				t.Errorf("alert %s: a summary and a description naming the vpnbillctl command are required", r.Alert)
			}
		}
	}
	if rules < 5 {
		t.Errorf("%d alert rules; want dead letters, reviews, paused, lag and webhook 503s at least", rules)
	}

	// Every alert has its line in the README's runbook.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, runbook, ok := strings.Cut(string(readme), "### Alerts and what fixes them")
	if !ok {
		t.Fatal(`README.md has no section "Alerts and what fixes them"`)
	}
	runbook, _, _ = strings.Cut(runbook, "\n## ")
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(runbook, "`"+r.Alert+"`") {
				t.Errorf("alert %s has no line in README.md's \"Alerts and what fixes them\"", r.Alert)
			}
		}
	}
}
