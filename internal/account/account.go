// Package account holds vpnbill's account rules as pure functions of data.
// Given what Stripe's facts say a customer's service should be, what
// vpnbill has made true at the provider, the provider's capabilities and
// the time, it decides what the provider should hold, the next action to
// take toward that, and when the clock alone next changes the answer.
//
// It does no I/O and knows no store, stream or provider protocol: the step
// machine (internal/provisioning) carries its actions out one persisted step
// at a time, and operators' tools (internal/ops) ask it what an account
// should be. It is the one owner of these rules.
package account

import (
	"time"

	"github.com/vpnbill/vpnbill/internal/providers"
)

// Status is what the customer's service should be, as the facts say.
type Status string

// The statuses.
const (
	StatusNone      Status = ""          // nothing bought yet (e.g. a subscription update seen before its purchase)
	StatusActive    Status = "active"    // paid: the account exists and is enabled
	StatusSuspended Status = "suspended" // unpaid past the grace period: disabled, kept
	StatusCanceled  Status = "canceled"  // ended: disabled now, deleted after the retention
	StatusRefunded  Status = "refunded"  // refunded or disputed: disabled now, deleted after the retention
)

// Final reports whether s ends the service for good.
func (s Status) Final() bool { return s == StatusCanceled || s == StatusRefunded }

// RenewSlack: an account whose provider expiry is within this of the
// paid-through time is not renewed (a Stripe month is not 30 days, and
// renew is not idempotent).
const RenewSlack = 72 * time.Hour

// Short reports whether an expiry at the provider falls short of the
// paid-through time by more than RenewSlack: a renewal is owed.
func Short(paidThrough, expiry time.Time) bool { return paidThrough.After(expiry.Add(RenewSlack)) }

// Plan is the plan the service is sold as.
type Plan struct {
	ID          string
	Provider    string
	PackageType string
	PeriodDays  int
}

// Account is what vpnbill knows exists at the provider.
type Account struct {
	Exists  bool
	Enabled bool
	// Deleted: deleted for good (canceled, refunded or expired).
	Deleted  bool
	Provider string
	// PlanID, PackageType, PeriodDays: the plan it was made for.
	PlanID      string
	PackageType string
	PeriodDays  int
	// Expiry at the provider, or kept by vpnbill where the provider keeps none.
	Expiry time.Time
	// Generation counts the accounts made for the record (0: none yet).
	Generation int
}

// State is one record, as the rules see it.
type State struct {
	Status      Status
	OneOff      bool      // a one-off order: it ends at PaidThrough
	PaidThrough time.Time // the end of the service paid for
	SuspendAt   time.Time // StatusSuspended: when the grace period ends
	DeleteAt    time.Time // StatusCanceled, StatusRefunded: when the retention ends
	Plan        Plan      // the plan now sold
	Account     Account
	// Retired counts accounts replaced by a plan change, still to delete.
	Retired int
	// Mail lists the ids of the emails owed, oldest first.
	Mail []string
	// InReview: an operator must decide; nothing is driven meanwhile.
	InReview bool
	// AdoptSince: an uncertain create waits for adoption since then
	// (zero: none).
	AdoptSince time.Time
}

// Policy is the configuration the rules read.
type Policy struct {
	// Grace is the unpaid time before suspension, and how long an account
	// whose provider keeps no expiry, or a one-off order, outlives its
	// paid-through time. Zero is a valid choice.
	Grace time.Duration
	// AdoptAfter is how long after an uncertain create what exists is
	// listed to adopt it.
	AdoptAfter time.Duration
}

// Target is what the provider should hold.
type Target int

// The targets.
const (
	TargetNone     Target = iota // nothing is owed (yet)
	TargetEnabled                // the account exists and works
	TargetDisabled               // the account exists, disabled (or, without suspend, is deleted)
	TargetDeleted                // the account is gone
)

func (t Target) String() string {
	return [...]string{"none", "enabled", "disabled", "deleted"}[t]
}

// TargetOf derives what the provider should hold at now, and when that will
// next change by the clock alone (zero: not by the clock).
func TargetOf(s State, caps providers.Capabilities, now time.Time, pol Policy) (Target, time.Time) {
	switch s.Status {
	case StatusActive:
		// A provider that keeps no expiry, and a one-off order, end at
		// paid-through plus the grace period: vpnbill enforces both.
		if (s.OneOff || !caps.Renew) && !s.PaidThrough.IsZero() {
			end := s.PaidThrough.Add(pol.Grace)
			if !now.Before(end) {
				return TargetDeleted, time.Time{}
			}
			return TargetEnabled, end
		}
		return TargetEnabled, time.Time{}
	case StatusSuspended:
		if now.Before(s.SuspendAt) {
			return TargetEnabled, s.SuspendAt
		}
		return TargetDisabled, time.Time{}
	case StatusCanceled, StatusRefunded:
		if now.Before(s.DeleteAt) {
			return TargetDisabled, s.DeleteAt
		}
		return TargetDeleted, time.Time{}
	}
	return TargetNone, time.Time{}
}

// Action is one move toward the target: a provider call, an email, or a
// change of the record alone. Its value is the step's name.
type Action string

// The actions.
const (
	None Action = ""
	// Adopt settles an uncertain create by listing what exists.
	Adopt Action = "adopt"
	// Create makes the account: the first, a replacement for a plan change
	// that needs a new account, or a new one after a provider without
	// suspend deleted the last.
	Create Action = "create"
	// PlanChanged records a plan change the account needs nothing for.
	PlanChanged Action = "plan"
	// Enable and Disable switch the account at a provider that can suspend.
	Enable  Action = "enable"
	Disable Action = "disable"
	// Renew extends the account at a provider that keeps an expiry.
	Renew Action = "renew"
	// Extend moves the expiry vpnbill keeps for a provider that keeps none.
	Extend Action = "expiry"
	// Suspend deletes the account at a provider that cannot suspend.
	Suspend Action = "suspend"
	// Delete deletes the account for good.
	Delete Action = "delete"
	// MarkDeleted records that the retention of an account already gone
	// (a provider without suspend deleted it at cancellation) is over.
	MarkDeleted Action = "deleted"
	// Retire deletes an account replaced by a plan change.
	Retire Action = "retire"
	// Email sends the oldest email owed (Decision.Email).
	Email Action = "email"
)

// Decision is what the rules say of a record at one moment.
type Decision struct {
	Target Target
	// Action is the next move toward Target, None when the provider
	// matches the record and nothing is owed.
	Action Action
	// Email is the id of the email to send, for Action Email.
	Email string
	// Wake is when the clock alone next changes the decision (zero: not
	// by the clock).
	Wake time.Time
}

// Decide returns the decision for s at now.
func Decide(s State, caps providers.Capabilities, now time.Time, pol Policy) Decision {
	t, wake := TargetOf(s, caps, now, pol)
	d := Decision{Target: t, Wake: wake}
	if !s.AdoptSince.IsZero() {
		d.Wake = s.AdoptSince.Add(pol.AdoptAfter)
	}
	switch {
	case s.InReview:
		return d
	case !s.AdoptSince.IsZero():
		if now.Before(d.Wake) {
			return d // the timer fires when adoption may start
		}
		d.Action = Adopt
		return d
	}
	d.Action = next(s, caps, t)
	if d.Action == None && s.Retired > 0 {
		d.Action = Retire
	}
	if d.Action == None && len(s.Mail) > 0 {
		d.Action, d.Email = Email, s.Mail[0]
	}
	return d
}

// next is the provider move toward t, or None.
func next(s State, caps providers.Capabilities, t Target) Action {
	a := s.Account
	switch t {
	case TargetEnabled:
		switch {
		case !a.Exists:
			return Create
		case a.PlanID != s.Plan.ID && s.Plan.ID != "":
			switch {
			case s.Plan.Provider != "" && a.Provider != "" && s.Plan.Provider != a.Provider:
				return Create // an account at the new provider; the old one is retired
			case caps.PackageNeedsNewAccount && !samePackage(a, s.Plan):
				return Create // a new account of the new package; the old one is retired
			}
			return PlanChanged
		case !a.Enabled && caps.Suspend:
			return Enable
		case caps.Renew && !s.OneOff && Short(s.PaidThrough, a.Expiry):
			return Renew
		case !caps.Renew && s.PaidThrough.After(a.Expiry):
			return Extend
		}
	case TargetDisabled:
		switch {
		case a.Exists && caps.Suspend && a.Enabled:
			return Disable
		case a.Exists && !caps.Suspend:
			return Suspend
		}
	case TargetDeleted:
		switch {
		case a.Exists:
			return Delete
		case !a.Deleted && a.Generation > 0 && s.Status.Final():
			return MarkDeleted
		}
	}
	return None
}

// samePackage reports whether account a was made for plan p's package and
// period (an account made before plans were recorded counts as the same).
func samePackage(a Account, p Plan) bool {
	return a.PlanID == "" || (a.PackageType == p.PackageType && a.PeriodDays == p.PeriodDays)
}
