package provisioning

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
	"time"
)

// A record written by the release before formats were versioned
// (testdata/record-format1.json, made by that release's code) is read and
// migrated: nothing it held is lost, and written again it is in today's
// format.
func TestGoldenRecordFormat1IsMigrated(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/record-format1.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != FormatVersion {
		t.Errorf("format %d, want %d", r.Format, FormatVersion)
	}
	want := PlanSnapshot{ID: "std-monthly", Name: "Standard VPN, monthly", Provider: "purevpn", PackageType: "STANDARD", PeriodDays: 30}
	if r.Desired.Plan != want {
		t.Errorf("plan %+v, want %+v", r.Desired.Plan, want)
	}
	checks := map[string]bool{
		"key":            r.Key == "sub_1Golden",
		"status":         r.Desired.Status == StatusSuspended,
		"suspend at":     r.Desired.SuspendAt.Equal(at(5).Add(72 * time.Hour)),
		"paid through":   r.Desired.PaidThrough.Equal(at(0).AddDate(0, 1, 0)),
		"email":          r.Desired.Email == "ada@example.com" && r.Desired.CustomerName == "Ada Lovelace",
		"livemode":       r.Desired.Livemode,
		"dunning":        len(r.Desired.Dunning) == 1,
		"account":        r.Actual.Username == "pvr100001" && r.Actual.Exists && r.Actual.Enabled && r.Actual.Generation == 1,
		"account plan":   r.Actual.PlanID == "std-monthly" && r.Actual.PackageType == "STANDARD" && r.Actual.PeriodDays == 30,
		"password":       string(r.Actual.Password) == "sealed-bytes",
		"lease and step": r.Lease != nil && r.Lease.Owner == "host-1-abcd" && r.Step != nil && r.Step.Name == "email.welcome.1",
		"mail":           len(r.Mail) == 1 && r.Mail[0].ID == "welcome.1" && r.Mail[0].Gen == 1,
		"emails":         r.Emails["payment_failed.in_2"].MessageID != "",
		"outbox":         len(r.Outbox) == 3,
		"applied":        len(r.Applied) == 3,
		"timer":          r.TimerAt.Equal(at(77)),
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("%s not kept by the migration", what)
		}
	}

	// Written again: today's format, with explicit snake_case plan fields,
	// and read back unchanged.
	r.Format = FormatVersion
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{`"PackageType"`, `"PeriodDays"`, `"StripePrices"`, `"ID"`} {
		if bytes.Contains(out, []byte(old)) {
			t.Errorf("the record written again still holds %s", old)
		}
	}
	again, err := DecodeRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if again.Desired.Plan != want || again.Format != FormatVersion {
		t.Errorf("read back: plan %+v, format %d", again.Desired.Plan, again.Format)
	}
}

// A record of a format newer than this release is refused, not guessed at.
func TestRecordOfNewerFormatIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := DecodeRecord([]byte(`{"format": 99, "key": "sub_1"}`)); err == nil {
		t.Fatal("a record of format 99 was read")
	}
}

// Format 2 kept a retired account as a bare username, at the record's
// provider; format 3 names the provider. Both read.
func TestRetiredAccountsOfFormat2(t *testing.T) {
	t.Parallel()
	r, err := DecodeRecord([]byte(`{"format": 2, "key": "sub_1", "actual": {"provider": "purevpn", "retired": ["pvr100001"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != FormatVersion || len(r.Actual.Retired) != 1 || r.Actual.Retired[0] != (RetiredAccount{Username: "pvr100001"}) {
		t.Errorf("format %d, retired %+v; want format %d and pvr100001 at the record's provider", r.Format, r.Actual.Retired, FormatVersion)
	}
	r, err = DecodeRecord([]byte(`{"format": 3, "key": "sub_1", "actual": {"provider": "vpnki", "retired": [{"provider": "purevpn", "username": "pvr100001"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Actual.Retired) != 1 || r.Actual.Retired[0] != (RetiredAccount{Provider: "purevpn", Username: "pvr100001"}) {
		t.Errorf("retired %+v", r.Actual.Retired)
	}
}
