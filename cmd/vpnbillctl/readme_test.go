package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vpnbill/vpnbill/internal/ops"
)

// TestREADMEDocumentsSetupAndDoctor keeps the README's operator text in
// step with the commands: the endpoint's API version, and one line for
// each of doctor's checks.
func TestREADMEDocumentsSetupAndDoctor(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for _, want := range []string{"vpnbillctl stripe setup --url", "`" + ops.EndpointVersion() + "`", "`doctor [--nats-monitor"} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md lacks %s", want)
		}
	}
	for _, name := range append([]string{"configuration"}, allChecks...) {
		if !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README.md's table of doctor's checks lacks `%s`", name)
		}
	}
}
