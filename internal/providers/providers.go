// Package providers owns what vpnbill knows of VPN providers in general: the
// classes every failed provider call falls into, the capability matrix, the
// one HTTP exchange both clients use (timeouts, safe retries, no silent
// re-send, secret scrubbing), and the provider names. The clients live in
// purevpn/ and vpnki/, each with a simulator of its API beside it.
//
// The package knows nothing of Stripe or NATS.
package providers

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Name identifies a provider in plans, records, audit events and metrics.
type Name string

// The providers vpnbill implements.
const (
	PureVPN Name = "purevpn"
	VPNKI   Name = "vpnki"
)

// Names returns the providers vpnbill implements.
func Names() []Name { return []Name{PureVPN, VPNKI} }

// Valid reports whether n is a provider vpnbill implements.
func (n Name) Valid() bool { return slices.Contains(Names(), n) }

// Capabilities says which operations a provider offers natively, and how
// its customers connect. The worker reads it to pick an explicit rule for
// what a provider lacks (VPNKI has no renew, suspend or password change)
// instead of pretending, and its emails read from it how to connect.
type Capabilities struct {
	Renew          bool // the provider keeps an expiry and can extend it
	Suspend        bool // an account can be disabled and enabled again
	ChangePassword bool // a password can be changed in place
	List           bool // what exists can be listed, so an uncertain create can be adopted
	Usage          bool // connection statistics can be read
	// PackageNeedsNewAccount: an account is made for one package and
	// period, so a plan change to another needs a new account.
	PackageNeedsNewAccount bool

	// App is the name of the provider's own app a customer installs and
	// signs in to; empty if there is none.
	App string
	// Protocols are what a device's own VPN client connects to an account's
	// server with (the server comes with the account's credentials), as a
	// customer reads them, e.g. "PPTP, L2TP/IPsec or OpenVPN"; empty if the
	// provider does not say.
	Protocols string
}

// CapabilitiesOf returns the capability matrix of DESIGN.md for n.
func CapabilitiesOf(n Name) Capabilities {
	switch n {
	case PureVPN:
		return Capabilities{Renew: true, Suspend: true, ChangePassword: true, PackageNeedsNewAccount: true, App: "PureVPN"}
	case VPNKI:
		return Capabilities{List: true, Usage: true, Protocols: "PPTP, L2TP/IPsec or OpenVPN"}
	default:
		return Capabilities{}
	}
}

// Class is what the worker needs to know of a failed provider call to act on it.
type Class int

// The error classes. The zero value is not a class: an error without one is
// not a provider error.
const (
	// NotSent: the request never left (dial, DNS, TLS). Any method may be retried.
	NotSent Class = iota + 1
	// Uncertain: the request left and no answer came (timeout, reset). Only
	// idempotent methods may be retried; a create goes to adoption or review.
	Uncertain
	// Rejected: the provider answered no, with its reason. Permanent.
	Rejected
	// Unauthorized: bad credentials, caller IP not allow-listed, or the
	// account lacks the status the method needs. Systemic: stop and alert.
	Unauthorized
	// Throttled: 429 or Retry-After. Retry after the delay.
	Throttled
	// Unavailable: 5xx. Retry with backoff.
	Unavailable
)

var classNames = map[Class]string{
	NotSent:      "not_sent",
	Uncertain:    "uncertain",
	Rejected:     "rejected",
	Unauthorized: "unauthorized",
	Throttled:    "throttled",
	Unavailable:  "unavailable",
}

func (c Class) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Sentinels, one per class, so callers can write errors.Is(err, providers.ErrUncertain).
var (
	ErrNotSent      = &Error{Class: NotSent}
	ErrUncertain    = &Error{Class: Uncertain}
	ErrRejected     = &Error{Class: Rejected}
	ErrUnauthorized = &Error{Class: Unauthorized}
	ErrThrottled    = &Error{Class: Throttled}
	ErrUnavailable  = &Error{Class: Unavailable}
)

// Error is a failed provider call. Its text never holds a secret: the
// provider clients scrub the cause and the reason before building it.
type Error struct {
	Provider   Name
	Method     string        // the provider's method or resource, e.g. "create", "add_tunnel"
	Class      Class         //
	Reason     string        // the provider's own words, or a short scrubbed excerpt of its answer
	RetryAfter time.Duration // Throttled: how long the provider asked us to wait; 0 if it did not say
	Err        error         // the transport cause, scrubbed; nil when the provider answered
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Provider, e.Method, e.Class)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches a class sentinel: errors.Is(err, ErrRejected) is true for every
// Rejected error, whatever its provider, method or reason.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error) // an Is method compares its own type, as jetstream.APIError does
	return ok && t.Provider == "" && t.Method == "" && t.Reason == "" && t.Err == nil && t.Class == e.Class
}

// ClassOf returns the class of the provider error in err's chain, or 0 if
// there is none.
func ClassOf(err error) Class {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Class
	}
	return 0
}
