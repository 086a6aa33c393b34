package events

// AuditConsoleAction records an operator's action taken in the web console
// (cmd/console): Account names the record acted on (a dead letter's is
// "dead:<sequence>"), Status the action (resend, review.adopt,
// review.retry, review.give-up, dead.retry, dead.drop, reconcile,
// reconcile.fix, event.replay), Reason who did it
// and why ("<operator>: <why>"). It is published before the action is
// taken (an action whose audit cannot be stored is refused), and again with
// Status "<action>.failed" if the action then fails. The finance report
// does not read it.
const AuditConsoleAction AuditKind = "console.action"

// AuditReconcileRun records a reconcile run, from the console or
// vpnbillctl (internal/ops records every run that is not cancelled): Status
// clean, drift or failed, Reason a one-line summary starting with who ran
// it, and a "reconcile" member with the counts and up to 200 rows. The
// console's overview shows the newest. The finance report does not read
// it.
const AuditReconcileRun AuditKind = "reconcile.run"
