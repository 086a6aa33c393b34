package provisioning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// modeKey is where bucket ACCOUNTS pins the Stripe mode a deployment serves
// when neither STRIPE_MODE nor STRIPE_API_KEY says which. It has a dot, so
// it is never taken for a record (Keys, and every reader of the bucket,
// leave dotted keys out).
const modeKey = "mode.stripe"

// modePinVersion is the version of the stored ModePin.
const modePinVersion = 1

// The values of ModePin.Mode.
const (
	ModeLive = "live"
	ModeTest = "test"
)

// ModeName is "live" for live mode and "test" for test mode.
func ModeName(live bool) string {
	if live {
		return ModeLive
	}
	return ModeTest
}

// ModePin is the Stripe mode pinned in bucket ACCOUNTS, as stored.
type ModePin struct {
	V     int       `json:"v"`     // modePinVersion
	Mode  string    `json:"mode"`  // ModeLive or ModeTest
	Event string    `json:"event"` // the Stripe event whose mode was pinned
	At    time.Time `json:"at"`    // when it was pinned
}

// Live reports whether the pin is live mode.
func (p ModePin) Live() bool { return p.Mode == ModeLive }

// PinMode pins the Stripe mode of event (live or test mode) as the mode the
// deployment serves, unless a mode is pinned already, and returns the mode
// pinned: the first writer's, whatever the others asked for. The pin is a
// compare-and-swap create, so any number of workers calling it at once
// agree; it is never changed afterwards. Errors are NATS's (retryable), or
// a stored pin this release cannot read.
func (s *Store) PinMode(ctx context.Context, live bool, event string) (servedLive bool, err error) {
	data, err := json.Marshal(ModePin{V: modePinVersion, Mode: ModeName(live), Event: event, At: time.Now().UTC()})
	if err != nil {
		return false, fmt.Errorf("pin stripe mode: %w", err)
	}
	for attempt := 0; ; attempt++ {
		_, err := s.kv.Create(ctx, modeKey, data)
		if err == nil {
			return live, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return false, fmt.Errorf("pin stripe mode: %w", err)
		}
		pin, ok, err := s.PinnedMode(ctx)
		if err != nil {
			return false, err
		}
		if ok {
			return pin.Live(), nil
		}
		// Not found just after the create found it: a replica of a
		// replicated bucket a moment behind, or the pin removed by hand in
		// between. Look again shortly.
		if attempt >= 10 {
			return false, errors.New("pin stripe mode: the pin exists but cannot be read")
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("pin stripe mode: %w", ctx.Err())
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

// PinnedMode returns the Stripe mode pinned in bucket ACCOUNTS, and false
// if none is pinned yet.
func (s *Store) PinnedMode(ctx context.Context) (ModePin, bool, error) {
	e, err := s.kv.Get(ctx, modeKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return ModePin{}, false, nil
	}
	if err != nil {
		return ModePin{}, false, fmt.Errorf("read stripe mode: %w", err)
	}
	var p ModePin
	if err := json.Unmarshal(e.Value(), &p); err != nil {
		return ModePin{}, false, fmt.Errorf("read stripe mode %s: %w", modeKey, err)
	}
	if p.V != modePinVersion || (p.Mode != ModeLive && p.Mode != ModeTest) {
		return ModePin{}, false, fmt.Errorf("read stripe mode %s: version %d, mode %q: this release reads version %d, live or test",
			modeKey, p.V, p.Mode, modePinVersion)
	}
	return p, true, nil
}
