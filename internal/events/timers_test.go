package events_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
)

// The timer tests drive scanners with a clock they move themselves, over
// index entries scheduled far enough ahead of the real clock (an hour) that
// ScheduleTimer indexes them without its near-entry check; the real
// clock's cases (near entries, due work published at once) say so.

// fired records what a scanner stored: every due timer, by key, with its time.
type fired struct {
	mu   sync.Mutex
	keys map[string][]time.Time
	late []time.Duration
}

func (f *fired) observe(key string, at time.Time, late time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil {
		f.keys = map[string][]time.Time{}
	}
	f.keys[key] = append(f.keys[key], at)
	f.late = append(f.late, late)
}

func (f *fired) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ats := range f.keys {
		n += len(ats)
	}
	return n
}

func (f *fired) of(key string) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.keys[key])
}

// scanner returns a scanner of b's stream with clock c, recording into f.
func (b *testBundle) scanner(t *testing.T, c *harness.Clock, f *fired) *events.TimerScanner {
	t.Helper()
	return events.NewTimerScanner(b.js, events.TimerScannerConfig{Now: c.Now, Observe: f.observe, Logger: zaptest.NewLogger(t)})
}

// walk moves c from from to to one step at a time, ticking s at each.
func walk(t *testing.T, ctx context.Context, s *events.TimerScanner, c *harness.Clock, from, to time.Time, step time.Duration) {
	t.Helper()
	for now := from; !now.After(to); now = now.Add(step) {
		c.Set(now)
		if err := s.Tick(ctx); err != nil {
			t.Fatalf("tick at %s: %v", now.Format(time.TimeOnly), err)
		}
	}
}

// futureMinute is the start of a minute an hour or more ahead of the real clock.
func futureMinute() time.Time { return time.Now().UTC().Truncate(time.Minute).Add(time.Hour) }

func schedule(t *testing.T, ctx context.Context, js jetstream.JetStream, key string, at time.Time) {
	t.Helper()
	if err := events.ScheduleTimer(ctx, js, key, at); err != nil {
		t.Fatalf("ScheduleTimer(%s, %s): %v", key, at.Format(time.TimeOnly), err)
	}
}

// subjects lists the subjects of stream TIMERS matching filter.
func (b *testBundle) subjects(t *testing.T, ctx context.Context, filter string) map[string]uint64 {
	t.Helper()
	info, err := b.topo.Timers.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatalf("list %s: %v", filter, err)
	}
	return info.State.Subjects
}

// due reports whether record key has due work waiting.
func (b *testBundle) due(t *testing.T, ctx context.Context, key string) bool {
	t.Helper()
	return len(b.subjects(t, ctx, "timer.due."+key)) > 0
}

func TestTimerFiresAtItsTimeNotBefore(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	base := futureMinute()
	ats := map[string]time.Time{"sub_a": base, "sub_b": base.Add(5 * time.Second), "sub_c": base.Add(61 * time.Second)}
	for k, at := range ats {
		schedule(t, ctx, b.js, k, at)
	}
	c := harness.NewClock(base.Add(-30 * time.Second))
	f := &fired{}
	s := b.scanner(t, c, f)
	walk(t, ctx, s, c, base.Add(-30*time.Second), base.Add(-time.Millisecond), 500*time.Millisecond)
	if n := f.count(); n != 0 || b.due(t, ctx, "sub_a") {
		t.Fatalf("%d timers fired before their time", n)
	}
	for _, k := range []string{"sub_a", "sub_b", "sub_c"} {
		at := ats[k]
		c.Set(at.Add(-time.Millisecond))
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if len(f.of(k)) != 0 {
			t.Errorf("%s fired a millisecond before its time", k)
		}
		c.Set(at)
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.of(k); len(got) != 1 || !got[0].Equal(at) {
			t.Errorf("%s fired %v at its time, want once at %s", k, got, at.Format(time.TimeOnly))
		}
		if !b.due(t, ctx, k) {
			t.Errorf("%s has no due work after firing", k)
		}
	}
	// Past every minute and its settling: each fired once, the index is empty.
	walk(t, ctx, s, c, base.Add(62*time.Second), base.Add(3*time.Minute), time.Second)
	if n := f.count(); n != 3 {
		t.Errorf("%d timers fired, want 3 (once each)", n)
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("index entries left after their minutes closed: %v", left)
	}
}

// A wake-up that is past, now, or within two seconds is due work at once:
// GRACE_PERIOD=0 suspends in the same reconcile's wake of the timer, not a
// scan later.
func TestTimerDueNowIsPublishedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	now := time.Now()
	for k, at := range map[string]time.Time{"sub_past": now.Add(-time.Hour), "sub_now": now, "sub_soon": now.Add(time.Second)} {
		schedule(t, ctx, b.js, k, at)
		if !b.due(t, ctx, k) {
			t.Errorf("%s (%s from now) has no due work", k, time.Until(at).Round(time.Second))
		}
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("due-now timers were indexed: %v", left)
	}
	if err := events.ScheduleTimer(ctx, b.js, "has.dot", now); err == nil {
		t.Error("a key of two subject tokens was accepted")
	}
}

// A wake-up that moved leaves its old entry: it fires too (a stale entry
// costs one reconcile that finds nothing to do). A wake-up scheduled twice
// fires twice. Nothing fires more than once however often the scanner
// lists a second or a minute again.
func TestTimerStaleAndDuplicateEntries(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	base := futureMinute()
	schedule(t, ctx, b.js, "sub_moved", base.Add(10*time.Second))
	schedule(t, ctx, b.js, "sub_moved", base.Add(70*time.Second)) // the wake-up moved on
	schedule(t, ctx, b.js, "sub_twice", base.Add(20*time.Second))
	schedule(t, ctx, b.js, "sub_twice", base.Add(20*time.Second))
	schedule(t, ctx, b.js, "sub_sub", base.Add(20*time.Second+300*time.Millisecond)) // kept to the second: rounded up

	c := harness.NewClock(time.Time{})
	f := &fired{}
	s := b.scanner(t, c, f)
	// Ticks of a quarter second: each second is listed several times (overlap).
	walk(t, ctx, s, c, base, base.Add(3*time.Minute), 250*time.Millisecond)

	want := map[string][]time.Time{
		"sub_moved": {base.Add(10 * time.Second), base.Add(70 * time.Second)},
		"sub_twice": {base.Add(20 * time.Second), base.Add(20 * time.Second)},
		"sub_sub":   {base.Add(21 * time.Second)},
	}
	for k, w := range want {
		if got := f.of(k); !slices.EqualFunc(got, w, time.Time.Equal) {
			t.Errorf("%s fired at %v, want %v", k, got, w)
		}
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("index entries left: %v", left)
	}
}

// An entry stored while its minute is being closed is never lost: one
// stored before the minute's marker is listed by the scanner closing it;
// one stored after it finds the marker in ScheduleTimer, which publishes
// the due work itself. Here the scanner's clock runs two minutes ahead of
// the real one, so it closes the minute the near entries are scheduled
// into while they are being scheduled.
func TestTimerStoredWhileItsMinuteClosesIsNotLost(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	start := time.Now()
	c := harness.NewClock(start.Add(2 * time.Minute))
	f := &fired{}
	s := b.scanner(t, c, f)

	var keys []string
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	stop := make(chan struct{})
	wg.Go(func() { // the scanner, ticking as fast as it can
		for {
			select {
			case <-stop:
				return
			default:
			}
			c.Set(time.Now().Add(2 * time.Minute))
			if err := s.Tick(ctx); err != nil {
				errs <- err
				return
			}
		}
	})
	var sched sync.WaitGroup
	for i := range 300 {
		key := fmt.Sprintf("sub_%03d", i)
		keys = append(keys, key)
		at := start.Add(20*time.Second + time.Duration(i%40)*time.Second/2) // near: within TimerNear
		sched.Go(func() {
			if err := events.ScheduleTimer(ctx, b.js, key, at); err != nil {
				errs <- err
			}
		})
	}
	sched.Wait()
	// One more pass after the last entry, as the next tick would.
	c.Set(time.Now().Add(2 * time.Minute))
	close(stop)
	wg.Wait()
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	due := b.subjects(t, ctx, "timer.due.>")
	for _, k := range keys {
		if due["timer.due."+k] == 0 {
			t.Errorf("%s was lost: no due work", k)
		}
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("%d index entries left in closed minutes", len(left))
	}
	t.Logf("%d fired by the scanner, %d by ScheduleTimer finding their minute closed", f.count(), len(keys)-f.count())

	// Certainly after the close: ScheduleTimer alone turns it into due work.
	schedule(t, ctx, b.js, "sub_after", start.Add(25*time.Second))
	if !b.due(t, ctx, "sub_after") || len(b.subjects(t, ctx, "timer.at.>")) != 0 {
		t.Error("an entry scheduled into a closed minute was left in the index")
	}
}

// Two scanners on one stream (two worker processes) fire each timer once.
func TestTwoScannersFireEachTimerOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	base := futureMinute()
	const n = 200
	for i := range n {
		schedule(t, ctx, b.js, fmt.Sprintf("sub_%03d", i), base.Add(time.Duration(i)*400*time.Millisecond))
	}
	f := &fired{}
	c := harness.NewClock(base.Add(-time.Second))
	var scanners []*events.TimerScanner
	for i := range 2 {
		_, js := harness.Connect(t, b.srv, fmt.Sprintf("worker-%d", i))
		scanners = append(scanners, events.NewTimerScanner(js, events.TimerScannerConfig{Now: c.Now, Observe: f.observe}))
	}
	for now := base.Add(-time.Second); now.Before(base.Add(3 * time.Minute)); now = now.Add(500 * time.Millisecond) {
		c.Set(now)
		var wg sync.WaitGroup
		for _, s := range scanners {
			wg.Go(func() {
				if err := s.Tick(ctx); err != nil {
					t.Errorf("tick: %v", err)
				}
			})
		}
		wg.Wait()
	}
	if got := f.count(); got != n {
		t.Errorf("%d due timers stored by two scanners, want %d", got, n)
	}
	for i := range n {
		if k := fmt.Sprintf("sub_%03d", i); len(f.of(k)) != 1 {
			t.Errorf("%s fired %d times", k, len(f.of(k)))
		}
	}
}

// A scanner started after every worker was down resumes from the shared
// cursor: it fires what fell due meanwhile, once, and nothing it fired
// before the stop.
func TestTimerScannerRestartResumesFromCursor(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	base := futureMinute()
	for i := range 10 { // one a minute, from base
		schedule(t, ctx, b.js, fmt.Sprintf("sub_%d", i), base.Add(time.Duration(i)*time.Minute+7*time.Second))
	}
	c := harness.NewClock(time.Time{})
	before := &fired{}
	walk(t, ctx, b.scanner(t, c, before), c, base, base.Add(2*time.Minute+30*time.Second), time.Second)
	if n := before.count(); n != 3 {
		t.Fatalf("%d fired before the stop, want 3", n)
	}

	// All workers down for an hour; a fresh scanner (no memory of what
	// fired) starts, with its catch-up held to a short budget per tick.
	after := &fired{}
	c.Set(base.Add(70 * time.Minute))
	s := events.NewTimerScanner(b.js, events.TimerScannerConfig{Now: c.Now, Observe: after.observe, CatchUp: time.Millisecond})
	for range 200 {
		if err := s.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if after.count() == 7 && len(b.subjects(t, ctx, "timer.at.>")) == 0 {
			break
		}
	}
	for i := range 10 {
		k := fmt.Sprintf("sub_%d", i)
		if got, want := len(after.of(k)), map[bool]int{true: 0, false: 1}[i < 3]; got != want {
			t.Errorf("%s fired %d times after the restart, want %d", k, got, want)
		}
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("index entries left after the catch-up: %v", left)
	}
}

// A minute holding 10,000 timers: each fires once, at its second, and a
// tick costs in proportion to what falls due in it, not to the minute.
func TestTimerMinuteWithTenThousandEntries(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	base := futureMinute()
	const n = 10_000
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				// Seconds 0-44; 45-59 have none.
				if err := events.ScheduleTimer(ctx, b.js, fmt.Sprintf("sub_%05d", i), base.Add(time.Duration(i%45)*time.Second)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("scheduled %d timers in one minute in %s", n, time.Since(start).Round(time.Millisecond))

	f := &fired{}
	c := harness.NewClock(time.Time{})
	s := b.scanner(t, c, f)
	walk(t, ctx, s, c, base.Add(-2*time.Second), base.Add(47*time.Second), time.Second)
	if got := f.count(); got != n {
		t.Fatalf("%d fired by the minute's last second, want %d", got, n)
	}
	// A tick of a second with nothing due lists that second (and the two
	// before), not the minute.
	c.Set(base.Add(48 * time.Second))
	tickStart := time.Now()
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	idle := time.Since(tickStart)
	t.Logf("a tick with nothing due in a minute of %d entries: %s", n, idle.Round(time.Microsecond))

	closeStart := time.Now()
	walk(t, ctx, s, c, base.Add(49*time.Second), base.Add(71*time.Second), time.Second)
	t.Logf("closing the minute: %s", time.Since(closeStart).Round(time.Millisecond))
	if got := f.count(); got != n {
		t.Errorf("%d stored after the minute closed, want %d (each once)", got, n)
	}
	for k, ats := range f.keys {
		if len(ats) != 1 {
			t.Errorf("%s fired %d times", k, len(ats))
		}
	}
	var worst time.Duration
	for _, l := range f.late {
		worst = max(worst, l)
	}
	if worst > 0 {
		t.Errorf("a timer fired %s after its second, by the scanner's own clock", worst)
	}
	if left := b.subjects(t, ctx, "timer.at.>"); len(left) != 0 {
		t.Errorf("%d index entries left after the minute closed", len(left))
	}
}

// Setup upgrades the stream and consumer of the timers vpnbill kept before
// the index (parked timer.due messages): their messages stay, for the new
// handler to reconcile and index again.
func TestSetupUpgradesTheTimersOfOldVersions(t *testing.T) {
	t.Parallel()
	b := startServer(t)
	ctx := testContext(t)
	if _, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: events.StreamTimers, Subjects: []string{"timer.due.>"},
		Storage: jetstream.FileStorage, MaxMsgsPerSubject: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.CreateOrUpdateConsumer(ctx, events.StreamTimers, jetstream.ConsumerConfig{Durable: events.ConsumerTimers,
		FilterSubject: "timer.due.>", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.js.Publish(ctx, "timer.due.sub_old", []byte(time.Now().Add(48*time.Hour).Format(time.RFC3339))); err != nil {
		t.Fatal(err)
	}
	topo, err := events.Setup(ctx, b.js, events.Config{})
	if err != nil {
		t.Fatalf("Setup over the old stream: %v", err)
	}
	cfg := topo.Timers.CachedInfo().Config
	for _, want := range []string{"timer.at.>", "timer.closed.>", "timer.cursor", "timer.due.>"} {
		if !slices.Contains(cfg.Subjects, want) {
			t.Errorf("TIMERS subjects %v lack %s", cfg.Subjects, want)
		}
	}
	if cfg.Duplicates < 2*time.Minute || cfg.AllowDirect {
		t.Errorf("TIMERS duplicate window %s, direct gets %v; want minutes, none", cfg.Duplicates, cfg.AllowDirect)
	}
	cons, err := topo.TimerConsumer(ctx)
	if err != nil {
		t.Fatalf("TimerConsumer over the old consumer: %v", err)
	}
	ci := cons.CachedInfo()
	if ci.Config.MaxAckPending != events.TimerMaxAckPending || ci.NumPending != 1 {
		t.Errorf("consumer max ack pending %d, pending %d; want %d, the old timer", ci.Config.MaxAckPending, ci.NumPending, events.TimerMaxAckPending)
	}
	if !strings.HasPrefix(ci.Config.FilterSubject, "timer.due.") {
		t.Errorf("consumer filter %q, want the due work only", ci.Config.FilterSubject)
	}
}

// Setup starts the cursor before any entry exists. Should it be removed by
// hand while entries are waiting, a scanner finds the earliest entry and
// starts there: the entries already past fire, late, rather than never.
func TestTimerCursorLostIsRebuiltFromTheIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	if len(b.subjects(t, ctx, "timer.cursor")) != 1 {
		t.Fatal("Setup did not start the cursor")
	}
	base := futureMinute()
	schedule(t, ctx, b.js, "sub_early", base.Add(5*time.Second))
	schedule(t, ctx, b.js, "sub_later", base.Add(3*time.Minute))
	if err := b.topo.Timers.Purge(ctx, jetstream.WithPurgeSubject("timer.cursor")); err != nil {
		t.Fatal(err)
	}
	c := harness.NewClock(base.Add(2 * time.Minute))
	f := &fired{}
	s := b.scanner(t, c, f)
	walk(t, ctx, s, c, base.Add(2*time.Minute), base.Add(2*time.Minute+5*time.Second), time.Second)
	if got := f.of("sub_early"); len(got) != 1 {
		t.Errorf("the entry before the lost cursor fired %d times, want once", len(got))
	}
	if got := f.of("sub_later"); len(got) != 0 {
		t.Errorf("an entry not yet due fired")
	}
}
