// Package purevpn is vpnbill's client of the PureVPN reseller API v1
// (shared/providers/purevpn-reseller-api-v1.txt): HTTP POST of a form,
// answers in XML. It owns the wire format of every method of that document —
// create, renew, status, delete_account, update_account, change_password —
// the md5 of the API password, the XML answers and their dates, and the
// mapping of every failure to a providers.Error class. Every request goes
// through providers.Exchange, which owns timeouts, retries and scrubbing.
//
// # Idempotency
//
// status, delete_account and update_account are idempotent: the exchange
// retries them after a timeout, a reset or a 5xx. create, renew and
// change_password are not: they are retried only when the request never left
// (NotSent) or the server said to wait (Throttled), they travel on a fresh
// connection that Go's transport cannot re-send on, and a create whose answer
// was lost comes back Uncertain, never sent twice.
//
// # Answers
//
// <result>1</result> is success. Any other result is a failure whose reason
// is the text the server gave (<message>, <error>, <reason>, <msg>,
// <description>, or the text of the root element); it is classed
// Unauthorized when it speaks of credentials, the caller's IP or the
// reseller account (see [ClassifyReason]) and Rejected otherwise. An answer
// that cannot be read — not XML, or XML without <result> — leaves us not
// knowing what happened: Uncertain for the non-idempotent methods,
// Unavailable (retry later) for the idempotent ones. A redirect is a
// misconfigured API URL: Unauthorized, so the worker stops and alerts.
//
// # Spellings
//
// Public clients of this API disagree on some names (username or user,
// update_account or update_status, delete_account or delete). The document's
// spellings are the defaults; every method and parameter name can be
// overridden with [Names] in [Config].
//
// # Period on every call
//
// The document asks for period only with create and renew, but the server
// has been seen to require it on other methods too, and public clients send
// it always. So does this client: create and renew send the period they are
// given, every other method sends Config.DefaultPeriod (30 days unless set).
// A server that does not need it ignores it.
//
// # Secrets
//
// The API password and its md5 are scrubbed from every error and log line by
// the exchange. VPN passwords (returned by create and renew, sent by
// change_password) never appear in an error or a log line.
package purevpn
