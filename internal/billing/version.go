package billing

import (
	"fmt"
	"strings"
	"time"
)

// ReadableVersions lists the Stripe API version families vpnbill reads,
// oldest first, each by its first version. An event's data.object is
// rendered in the API version of the endpoint that received it, and named in
// the event's api_version; vpnbill reads each event by the fields its
// version has (see ReadsVersion for which versions those are).
//
// The Stripe endpoint may be created with the account's default version or
// any version ReadsVersion accepts; create it with the newest, the last of
// this list (dahlia), unless another consumer of the same endpoint needs an
// older one. Changing the endpoint's version later is safe: events of every
// listed family are read, whatever version stored them.
var ReadableVersions = []string{
	"2023-10-16",
	"2024-09-30.acacia",
	"2025-03-31.basil",
	"2025-09-30.clover",
	"2026-03-25.dahlia",
}

// basilDate is the first version whose objects have basil's shape: an
// invoice names its subscription under parent.subscription_details and no
// longer its charge or payment intent (invoice_payment objects do), an
// invoice line names its price under pricing.price_details, a subscription
// keeps its current period on its items, and a charge or payment intent no
// longer names its invoice. Every later family keeps that shape where
// vpnbill reads.
const basilDate = "2025-03-31"

// reader reads the objects of one API version: the event's api_version, and
// whether its objects have basil's shape.
type reader struct {
	version string
	basil   bool
}

// ReadsVersion reports whether vpnbill reads events of Stripe API version
// v. A version is "YYYY-MM-DD", or, from acacia on, "YYYY-MM-DD.<family>";
// Stripe makes breaking changes only in a new family (twice a year) and its
// monthly versions within a family only add. So vpnbill reads:
//
//   - the unnamed versions from 2023-10-16 up to acacia (2023-10-16,
//     2024-04-10, 2024-06-20), which have 2023-10-16's shape where vpnbill
//     reads; older ones (before 2023-10-16) are not read;
//   - every version of a listed family (acacia, basil, clover, dahlia) dated
//     on or after the family's first version, including dahlia's monthly
//     versions newer than vpnbill itself.
//
// A version of a family vpnbill does not know (the one after dahlia, a
// preview) is not read: a new family is by definition a breaking change,
// and guessing at its shape could misread a payment. Its events are dead
// letters until vpnbill learns the family.
func ReadsVersion(v string) bool {
	_, err := readerFor(v)
	return err == nil
}

// readerFor returns the reader of version v, or an ErrMalformed error
// naming v.
func readerFor(v string) (reader, error) {
	unreadable := func(why string) (reader, error) {
		return reader{}, fmt.Errorf("%w: api_version %q %s; vpnbill reads the families of %s and their later versions",
			ErrMalformed, truncate(v, 40), why, strings.Join(ReadableVersions, ", "))
	}
	if v == "" {
		return unreadable("is missing")
	}
	date, family, _ := strings.Cut(v, ".")
	if t, err := time.Parse(time.DateOnly, date); err != nil || t.Format(time.DateOnly) != date {
		return unreadable("is not a Stripe API version")
	}
	for i, first := range ReadableVersions {
		firstDate, firstFamily, _ := strings.Cut(first, ".")
		if family != firstFamily {
			continue
		}
		switch {
		case date < firstDate && family == "":
			return unreadable("is older than vpnbill reads")
		case date < firstDate:
			return unreadable("is dated before its family's first version " + first)
		case family == "" && i+1 < len(ReadableVersions) && date >= ReadableVersions[i+1][:len(time.DateOnly)]:
			// Every version since acacia names its family.
			return unreadable("names no family but is newer than acacia")
		}
		return reader{version: v, basil: firstDate >= basilDate}, nil
	}
	return unreadable("is of a family vpnbill does not know")
}

// malformed is an ErrMalformed error about object what (an id, or "" when it
// has none) that names the version and what is wrong, e.g. "invoice in_1
// (api_version 2025-07-30.basil): no parent.subscription_details.subscription".
func (r reader) malformed(what, id, format string, args ...any) error {
	if id != "" {
		what += " " + id
	}
	return fmt.Errorf("%w: %s (api_version %s): %s", ErrMalformed, what, r.version, fmt.Sprintf(format, args...))
}
