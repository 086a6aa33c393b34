package events

import "context"

// Tick runs one scan now, for tests that move the scanner's clock
// themselves instead of letting Run tick.
func (s *TimerScanner) Tick(ctx context.Context) error { return s.tick(ctx) }
