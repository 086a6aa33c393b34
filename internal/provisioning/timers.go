package provisioning

import (
	"context"
	"errors"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
)

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
	if r.Adopt != nil {
		return r.Adopt.Started.Add(s.cfg.AdoptAfter), nil
	}
	_, wake := s.target(r, s.cfg.Now())
	return wake, nil
}

// schedule makes sure the record's next clock-driven change has a timer.
func (s *Service) schedule(ctx context.Context, key string, r *Record) error {
	if r == nil {
		return nil
	}
	now := s.cfg.Now()
	_, wake := s.target(r, now)
	if r.Adopt != nil {
		wake = r.Adopt.Started.Add(s.cfg.AdoptAfter)
	}
	if wake.IsZero() {
		return nil
	}
	wake = events.CeilSecond(wake)
	if wake.Equal(r.TimerAt) {
		return nil
	}
	if err := events.ScheduleTimer(ctx, s.js, key, wake); err != nil {
		return err
	}
	_, _, err := s.store.Update(ctx, key, func(r *Record) error {
		r.TimerAt = wake
		return nil
	})
	return err
}
