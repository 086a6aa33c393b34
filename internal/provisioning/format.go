package provisioning

import (
	"encoding/json"
	"fmt"
)

// DecodeRecord reads a stored record (a value of bucket ACCOUNTS) of any
// format this release knows and returns it in the current one. Records
// are migrated when read and written back in the current format with the
// next change to them.
func DecodeRecord(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch r.Format {
	case FormatVersion:
		return &r, nil
	case 2: // retired accounts were bare usernames: RetiredAccount reads them
		r.Format = FormatVersion
		return &r, nil
	case 0: // format 1 carried no version
		if err := migrateFormat1(data, &r); err != nil {
			return nil, fmt.Errorf("format 1: %w", err)
		}
		r.Format = FormatVersion
		return &r, nil
	default:
		return nil, fmt.Errorf("record format %d is newer than this release reads (%d): upgrade vpnbill", r.Format, FormatVersion)
	}
}

// migrateFormat1 reads what format 1 stored differently: the plan, kept
// with Go's field names (encoding/json matches "ID", "Name" and "Provider"
// to the new tags by case, but not "PackageType" and "PeriodDays"); its
// "StripePrices" are dropped, as a record does not need them.
func migrateFormat1(data []byte, r *Record) error {
	var v1 struct {
		Desired struct {
			Plan struct {
				ID          string `json:"ID"`
				Name        string `json:"Name"`
				Provider    string `json:"Provider"`
				PackageType string `json:"PackageType"`
				PeriodDays  int    `json:"PeriodDays"`
			} `json:"plan"`
		} `json:"desired"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return err
	}
	// Only what format 1 named differently is taken from it: a record
	// without a version but with today's names keeps what it says.
	p, d := v1.Desired.Plan, &r.Desired.Plan
	for _, f := range []struct {
		old string
		new *string
	}{{p.ID, &d.ID}, {p.Name, &d.Name}, {p.Provider, &d.Provider}, {p.PackageType, &d.PackageType}} {
		if f.old != "" {
			*f.new = f.old
		}
	}
	if p.PeriodDays != 0 {
		d.PeriodDays = p.PeriodDays
	}
	return nil
}
