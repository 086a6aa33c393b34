package ops

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// LiveSeat is one seat's account as its provider reports it now, read
// with the provider's read-only status call (provisioning.Provider.Lookup,
// the call Reconcile makes), never written into the record.
type LiveSeat struct {
	Key      string `json:"key"`
	Provider string `json:"provider"`
	Username string `json:"username,omitempty"`
	// Checked: the provider answered; Exists, Enabled, Expiry and Created
	// are what it said (Enabled only where it can suspend, Expiry only
	// where it keeps one: KeepsExpiry, CanSuspend).
	Checked     bool      `json:"checked"`
	Exists      bool      `json:"exists"`
	Enabled     bool      `json:"enabled"`
	Expiry      time.Time `json:"expiry,omitzero"`
	Created     time.Time `json:"created,omitzero"`
	KeepsExpiry bool      `json:"keeps_expiry"`
	CanSuspend  bool      `json:"can_suspend"`
	// Error: why it was not read: the class of the provider's failure
	// (not_sent, uncertain, rejected, unauthorized, throttled, canceled …;
	// never its text), or "not configured".
	Error string `json:"error,omitempty"`
	// Note: why no call was made (no account at the provider yet).
	Note string `json:"note,omitempty"`
	// Drift: what Reconcile would report of this account now.
	Drift []Drift `json:"drift,omitempty"`
}

// liveParallel bounds the status calls of one LiveState in flight.
const liveParallel = 4

// LiveState reads, at its provider (o.Providers), the account of record
// key and of each further seat of its subscription or order, one status
// call each, and compares each with its record as Reconcile does (grace:
// the worker's GRACE_PERIOD; nil its default). It changes nothing: no
// record is written, no step taken. A provider's failure is reported in
// the seat's Error by class; ctx bounds the calls (the caller sets a short
// deadline). It returns provisioning.ErrNotFound if key has no record.
func (o *Ops) LiveState(ctx context.Context, key string, grace *time.Duration) ([]LiveSeat, error) {
	st, err := o.store(ctx)
	if err != nil {
		return nil, err
	}
	root, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	recs := []*provisioning.Record{root}
	for _, k := range root.SeatKeys() {
		r, _, err := st.Get(ctx, k)
		if errors.Is(err, provisioning.ErrNotFound) {
			continue // not yet written: the worker writes it next
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	g := *provisioning.Config{GracePeriod: grace}.WithDefaults().GracePeriod
	now := o.now()
	out := make([]LiveSeat, len(recs))
	sem := make(chan struct{}, liveParallel)
	var wg sync.WaitGroup
	for i, r := range recs {
		name := providerOf(r)
		caps := providers.CapabilitiesOf(providers.Name(name))
		seat := LiveSeat{Key: r.Key, Provider: name, Username: r.Actual.Username, KeepsExpiry: caps.Renew, CanSuspend: caps.Suspend}
		p, ok := o.Providers[providers.Name(name)]
		switch {
		case r.Actual.Username == "":
			seat.Note = "no account at the provider"
		case !ok:
			seat.Error = "not configured"
		}
		out[i] = seat
		if seat.Note != "" || seat.Error != "" {
			continue
		}
		caps = p.Capabilities()
		out[i].KeepsExpiry, out[i].CanSuspend = caps.Renew, caps.Suspend
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			remote, err := p.Lookup(ctx, r.Actual.Username)
			if err != nil {
				out[i].Error = classOf(err)
				return
			}
			out[i].Checked = true
			out[i].Exists, out[i].Enabled, out[i].Expiry, out[i].Created = remote.Exists, remote.Enabled, remote.Expiry, remote.Created
			out[i].Drift = compare(r, remote, caps, now, g)
		})
	}
	wg.Wait()
	return out, nil
}
