package events_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Setup declares AUDIT_LATE beside AUDIT, keeping its copies as long as
// AUDIT keeps audits, and leaves AUDIT's subjects as they were.
func TestSetupDeclaresAuditLate(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{AuditMaxAge: 400 * 24 * time.Hour, DuplicateWindow: 2 * time.Hour})
	ctx := testContext(t)
	s, err := b.js.Stream(ctx, events.StreamAuditLate)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if len(c.Subjects) != 1 || c.Subjects[0] != "auditlate.>" || c.MaxAge != 400*24*time.Hour || c.Duplicates != 2*time.Hour ||
		c.Storage != jetstream.FileStorage {
		t.Errorf("AUDIT_LATE: subjects %v, max age %s, duplicates %s, storage %v", c.Subjects, c.MaxAge, c.Duplicates, c.Storage)
	}
	if got := b.topo.Audit.CachedInfo().Config.Subjects; len(got) != 1 || got[0] != "audit.>" {
		t.Errorf("AUDIT's subjects %v, want audit.>", got)
	}
}

func TestAuditLateSubjects(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		at   time.Time
		kind events.AuditKind
		want string
	}{
		{time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC), events.AuditFactApplied, "auditlate.2025.03.fact.applied"},
		{time.Date(2026, 1, 1, 0, 30, 0, 0, paris), events.AuditAccountCreated, "auditlate.2025.12.account.created"}, // by the UTC month
	} {
		if got := events.AuditLateSubject(tc.at, tc.kind); got != tc.want {
			t.Errorf("AuditLateSubject(%s, %s) = %q, want %q", tc.at, tc.kind, got, tc.want)
		}
	}
	if got := events.AuditLateFilter(events.AuditFactApplied); got != "auditlate.*.*.fact.applied" {
		t.Errorf("AuditLateFilter = %q", got)
	}
	if events.AuditLateCursor != "auditlate.cursor" {
		t.Errorf("AuditLateCursor = %q", events.AuditLateCursor)
	}
}
