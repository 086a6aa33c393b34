package events

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The audit trail by time. Stream AUDIT is read by the time JetStream
// stored each audit (its own time index: a consumer starting at a time
// finds the first message stored then without a scan). An audit stored
// long after (or before) the time it records, such as the fact of a dead
// letter replayed weeks later, is not where that index looks; the finance
// report (internal/ops) copies such audits, once, into stream AUDIT_LATE by
// the month of the time they record. AUDIT itself is unchanged.
//
// Stream AUDIT_LATE holds, under these subjects:
//
//	auditlate.<yyyy>.<mm>.<kind>   a copy of an audit of kind that records a time in that month (UTC)
//	auditlate.cursor               how far AUDIT was examined for such audits, and by which rule
//
// What counts as late is the reader's rule (internal/ops); the stream and its
// subjects are declared here, with the others.
const (
	StreamAuditLate = "AUDIT_LATE"

	auditLatePrefix = "auditlate."
	// AuditLateCursor is the subject of AUDIT_LATE's cursor: the newest
	// message under it says how far AUDIT was examined.
	AuditLateCursor = auditLatePrefix + "cursor"
)

// AuditLateSubject is the subject of AUDIT_LATE under which a copy of an
// audit of kind recording a time in the month of at (UTC) is kept.
func AuditLateSubject(at time.Time, kind AuditKind) string {
	at = at.UTC()
	return fmt.Sprintf("%s%04d.%02d.%s", auditLatePrefix, at.Year(), int(at.Month()), kind)
}

// AuditLateFilter is the filter of AUDIT_LATE's copies of audits of kind,
// of every month.
func AuditLateFilter(kind AuditKind) string { return auditLatePrefix + "*.*." + string(kind) }

// auditLateStream is AUDIT_LATE's configuration: it keeps its copies as
// long as AUDIT keeps audits.
func auditLateStream(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamAuditLate,
		Description: "Copies of audits stored far from the time they record, by that time's month, for the finance report",
		Subjects:    []string{auditLatePrefix + ">"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.AuditMaxAge,
		Duplicates:  cfg.DuplicateWindow,
		Replicas:    cfg.Replicas,
	}
}
