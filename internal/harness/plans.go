package harness

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpnbill/vpnbill/internal/billing"
)

// Plans writes yaml to a plans file in a temporary directory, for a
// process that reads PLANS_FILE, and loads it as that process would.
func Plans(t testing.TB, yaml string) (catalog *billing.Catalog, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "plans.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("harness: write the plans: %v", err)
	}
	catalog, err := billing.LoadCatalog(path)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return catalog, path
}
