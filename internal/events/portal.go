package events

// AuditCustomerAction records an action a customer took on their own page
// (internal/portal, served by cmd/console on PORTAL_ADDR): Account names
// the record acted on (a seat's own record for a seat), Status the action
// (password.reset), Reason who: "customer". It is published before the
// action is taken (an action whose audit cannot be stored is refused), and
// again with Status "<action>.failed" if the action then fails. It never
// holds the new password. The finance report does not read it.
const AuditCustomerAction AuditKind = "customer.action"
