package provisioning

import (
	"context"
	"errors"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
)

// Timers. A record whose state will change by the clock alone (a grace
// period or a retention ends, a VPNKI or one-off order expires, an
// uncertain create may be adopted) has a timer: an entry in the due-time
// index of stream TIMERS (events.ScheduleTimer), which a scanner turns into
// due work when it falls due. Record.TimerAt is the wake-up the record's
// timer was stored for: it is written only after the timer is stored, so a
// crash between the two stores the timer again, never loses it.

// NextWake returns when the record's next clock-driven change is due, or
// zero if none is.
func (s *Service) NextWake(ctx context.Context, key string) (time.Time, error) {
	r, _, err := s.store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return s.wake(r, s.cfg.Now()), nil
}

// wake is when r's next clock-driven change is due at now, or zero.
func (s *Service) wake(r *Record, now time.Time) time.Time { return s.decide(r, now).Wake }

// schedule makes sure the record's next clock-driven change has a timer:
// if it is not the one TimerAt says was stored, it stores one and then
// notes it in TimerAt.
func (s *Service) schedule(ctx context.Context, key string, r *Record) error {
	if r == nil {
		return nil
	}
	wake := s.wake(r, s.cfg.Now())
	if wake.IsZero() {
		return nil
	}
	wake = events.CeilSecond(wake)
	if wake.Equal(r.TimerAt) {
		return nil
	}
	return s.storeTimer(ctx, key, wake)
}

// Rearm stores the record's timer again for wake: for due work that came
// before its record's wake-up (an index entry the wake-up moved away from,
// or a timer parked by a vpnbill older than the index), whose handler
// found the wake-up too far off to wait for. A record without that timer
// then has it; one that has it gets a second entry, which costs one
// reconcile that finds nothing to do.
func (s *Service) Rearm(ctx context.Context, key string, wake time.Time) error {
	return s.storeTimer(ctx, key, events.CeilSecond(wake))
}

// storeTimer stores a timer for wake, then notes it in TimerAt.
func (s *Service) storeTimer(ctx context.Context, key string, wake time.Time) error {
	if err := events.ScheduleTimer(ctx, s.js, key, wake); err != nil {
		return err
	}
	_, _, err := s.store.Update(ctx, key, func(r *Record) error {
		if r.TimerAt.Equal(wake) {
			return errNoChange
		}
		r.TimerAt = wake
		return nil
	})
	return err
}
