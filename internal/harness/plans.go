package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// Plans writes yaml to a plans file in a temporary directory, for a
// process that reads PLANS_FILE, and loads it with checks. A process passes
// registry.CheckPlan, which the harness cannot import (the adapters' own
// tests use the harness); a test that wants its plans refused as a process
// would refuse them passes it.
func Plans(t testing.TB, yaml string, checks ...billing.PlanCheck) (catalog *billing.Catalog, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("harness: write the plans: %v", err)
	}
	catalog, err := billing.LoadCatalog(path, checks...)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return catalog, path
}
