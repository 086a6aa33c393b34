package events

// AuditConsoleAction records an operator's action taken in the web console
// (cmd/console): Account names the record acted on (a dead letter's is
// "dead:<sequence>"), Status the action (resend, review.adopt,
// review.retry, review.give-up, dead.retry, dead.drop), Reason who did it
// and why ("<operator>: <why>"). It is published before the action is
// taken (an action whose audit cannot be stored is refused), and again with
// Status "<action>.failed" if the action then fails. The finance report
// does not read it.
const AuditConsoleAction AuditKind = "console.action"
