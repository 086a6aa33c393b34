package purevpn

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidArgument is returned, wrapped, for an argument the client refuses
// before sending anything (an unknown package type or period, an empty
// username, a password the API would refuse). It is not a provider error:
// providers.ClassOf returns 0 for it.
var ErrInvalidArgument = errors.New("purevpn: invalid argument")

// ErrNoSuchAccount is in the chain of a Rejected error whose reason says the
// username does not exist. A caller deleting an account may take it as done.
var ErrNoSuchAccount = errors.New("purevpn: no such account")

// PackageType is the kind of VPN account create makes.
type PackageType string

// The package types of the API.
const (
	Standard PackageType = "STANDARD"
	SSTP     PackageType = "SSTP"
	HighBW   PackageType = "HIGH-BW"
)

// Valid reports whether p is one of the API's package types, spelled as the
// API spells it.
func (p PackageType) Valid() bool { return p == Standard || p == SSTP || p == HighBW }

// ParsePackageType reads a package type, ignoring case and surrounding space.
func ParsePackageType(s string) (PackageType, error) {
	p := PackageType(strings.ToUpper(strings.TrimSpace(s)))
	if !p.Valid() {
		return "", fmt.Errorf("%w: package type %q: want STANDARD, SSTP or HIGH-BW", ErrInvalidArgument, s)
	}
	return p, nil
}

// Period is the length of a create or renew, in days.
type Period int

// The periods of the API.
const (
	Period30  Period = 30
	Period60  Period = 60
	Period90  Period = 90
	Period180 Period = 180
	Period365 Period = 365
)

// Valid reports whether p is one of the API's periods.
func (p Period) Valid() bool {
	switch p {
	case Period30, Period60, Period90, Period180, Period365:
		return true
	}
	return false
}

// Days returns p in days.
func (p Period) Days() int { return int(p) }

// String returns p as the API spells it, e.g. "#30".
func (p Period) String() string { return fmt.Sprintf("#%d", int(p)) }

// PeriodFromDays returns the period of days, which must be 30, 60, 90, 180 or 365.
func PeriodFromDays(days int) (Period, error) {
	p := Period(days)
	if !p.Valid() {
		return 0, fmt.Errorf("%w: period of %d days: want 30, 60, 90, 180 or 365", ErrInvalidArgument, days)
	}
	return p, nil
}

// CheckPlan says whether PureVPN sells a plan of packageType (spelled as the
// API spells it) and periodDays (one of the API's periods); its error names
// the plans file's fields. It is the PureVPN part of registry.CheckPlan.
func CheckPlan(packageType string, periodDays int) error {
	var problems []string
	if !PackageType(packageType).Valid() {
		problems = append(problems, fmt.Sprintf("package_type must be STANDARD, SSTP or HIGH-BW, not %q", packageType))
	}
	if !Period(periodDays).Valid() {
		problems = append(problems, fmt.Sprintf("period_days must be 30, 60, 90, 180 or 365, not %d", periodDays))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// Account is a VPN account's credentials as create or renew return them.
// Password is a secret: never log it.
type Account struct {
	Username string
	Password string
}

// String shows the username only, so that an Account logged by mistake does
// not leak its password.
func (a Account) String() string { return "purevpn.Account{" + a.Username + "}" }

// GoString is String, for %#v.
func (a Account) GoString() string { return a.String() }

// Status is what status says of an account.
type Status struct {
	Enabled   bool      // the account is enabled (it may still be past its expiry)
	Expiry    time.Time // when the account expires, UTC
	RawStatus string    // the <status> text as the server sent it
	RawExpiry string    // the expiry text as the server sent it
}

// validPassword reports whether s is a password change_password accepts:
// exactly 8 ASCII letters or digits.
func validPassword(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
