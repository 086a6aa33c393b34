package worker_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// Timers at scale: a store holding many account records, each with a
// wake-up days or weeks ahead (accounts in their grace period, canceled
// accounts in their retention), and one record whose grace period ends a
// few seconds from now. The worker must suspend that one at the provider
// and tell its customer within a minute of its time, whatever the others.

// scaleRecords is how many records with future wake-ups TestTimersAtScale
// writes: $VPNBILL_TIMER_SCALE_RECORDS, default 100,000.
func scaleRecords(tb testing.TB, env string, def int) int {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a count", env, v)
	}
	return n
}

type scaleWorld struct {
	ns   *harness.NATSServer
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	sim  *purevpnsim.Sim
	url  string // the simulator's
	mail *mailcatcher.Catcher
	plan billing.Plan
	cfg  worker.Config
}

// newScaleWorld starts JetStream with vpnbill's topology, the PureVPN
// simulator and the mail catcher; the worker is started by run.
func newScaleWorld(tb testing.TB) *scaleWorld {
	tb.Helper()
	hw := harness.NewWorld(tb, harness.WorldOptions{PureVPN: purevpnsim.Options{User: pureAPIUser, Password: pureAPIPassword}})
	w := &scaleWorld{ns: hw.NATS, js: hw.JS, kv: hw.Topology.Accounts, sim: hw.PureVPN, url: hw.PureVPNURL, mail: hw.Mail}
	plans, _ := harness.Plans(tb, testPlans)
	i := slices.IndexFunc(plans.Plans(), func(p billing.Plan) bool { return p.ID == "std-monthly" })
	w.plan = plans.Plans()[i]
	w.cfg = worker.Config{
		Consumer:       events.ConsumerConfig{RetryBase: 100 * time.Millisecond, PauseFor: time.Second},
		Plans:          plans,
		PureVPN:        purevpn.Config{URL: w.url, User: pureAPIUser, Password: pureAPIPassword},
		Mail:           notify.Config{URL: w.mail.URL(), From: "VPN Shop <support@vpnshop.test>"},
		CredentialsKey: bytes.Repeat([]byte{7}, 32),
	}
	return w
}

// fill writes n account records with wake-ups spread over the next 30 days
// (from 10 minutes ahead) straight into the store, each with its timer
// scheduled as the worker would (events.ScheduleTimer): half in their grace
// period, half canceled and in their retention. It returns how long it took.
//
// For speed (the race detector slows JSON and the embedded server alike)
// the records are encoded from two templates and put into the bucket by
// asynchronous publishes to its subjects, which is what a KV put is.
func (w *scaleWorld) fill(tb testing.TB, n int) time.Duration {
	tb.Helper()
	start := time.Now()
	ctx := context.Background()
	now := start.UTC().Truncate(time.Second)
	span := 30 * 24 * time.Hour
	sentinel := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
	var templates [2]string
	for kind := range templates {
		data, err := json.Marshal(w.futureRecord(kind, now, sentinel))
		if err != nil {
			tb.Fatal(err)
		}
		templates[kind] = string(data)
	}
	var failed atomic.Int64
	fail := func(i int, err error) {
		if failed.Add(1) == 1 {
			tb.Errorf("record %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	work := make(chan int, 1024)
	for range 64 {
		wg.Go(func() {
			var acks []jetstream.PubAckFuture
			for i := range work {
				wake := events.CeilSecond(now.Add(10*time.Minute + time.Duration(int64(span)/int64(max(n, 1))*int64(i))))
				key := fmt.Sprintf("sub_scale%07d", i)
				data := strings.NewReplacer(
					"sub_scale0000000", key, "sub_scale0000001", key,
					"pvs0000000", fmt.Sprintf("pvs%07d", i), "pvs0000001", fmt.Sprintf("pvs%07d", i),
					"c0@example.com", fmt.Sprintf("c%d@example.com", i), "c1@example.com", fmt.Sprintf("c%d@example.com", i),
					"cus_scale0000000", fmt.Sprintf("cus_scale%07d", i), "cus_scale0000001", fmt.Sprintf("cus_scale%07d", i),
					sentinel.Format(time.RFC3339), wake.Format(time.RFC3339),
				).Replace(templates[i%2])
				ack, err := w.js.PublishAsync("$KV."+events.BucketAccounts+"."+key, []byte(data))
				if err != nil {
					fail(i, err)
					continue
				}
				acks = append(acks, ack)
				if err := events.ScheduleTimer(ctx, w.js, key, wake); err != nil {
					fail(i, err)
				}
			}
			for _, a := range acks {
				select {
				case <-a.Ok():
				case err := <-a.Err():
					fail(-1, err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if failed.Load() > 0 {
		tb.Fatalf("%d records not written", failed.Load())
	}
	took := time.Since(start)
	// The last record reads back as the record it stands for.
	if n > 0 {
		i := n - 1
		want := w.futureRecord(i, now, events.CeilSecond(now.Add(10*time.Minute+time.Duration(int64(span)/int64(n)*int64(i)))))
		e, err := w.kv.Get(ctx, want.Key)
		if err != nil {
			tb.Fatal(err)
		}
		var got provisioning.Record
		if err := json.Unmarshal(e.Value(), &got); err != nil {
			tb.Fatal(err)
		}
		if gj, wj := jsonOf(tb, got), jsonOf(tb, want); gj != wj {
			tb.Fatalf("record %d stored as\n%s\nwant\n%s", i, gj, wj)
		}
	}
	return took
}

func jsonOf(tb testing.TB, v any) string {
	tb.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(data)
}

// futureRecord is record i: a PureVPN account that changes by the clock at wake.
func (w *scaleWorld) futureRecord(i int, now, wake time.Time) provisioning.Record {
	key := fmt.Sprintf("sub_scale%07d", i) // fill's templates replace these ids
	r := provisioning.Record{
		Key: key, Created: now,
		Desired: provisioning.Desired{
			Plan: provisioning.SnapshotOf(w.plan), PlanAsOf: now, PaidThrough: now.AddDate(0, 0, 3), PaidAsOf: now.AddDate(0, -1, 0),
			Purchased: true, Email: fmt.Sprintf("c%d@example.com", i), Customer: fmt.Sprintf("cus_scale%07d", i), Subscription: key,
		},
		Actual: provisioning.Actual{
			Provider: w.plan.Provider, Username: fmt.Sprintf("pvs%07d", i), Exists: true, Enabled: true,
			Expiry: now.AddDate(0, 0, 3), Generation: 1, CreatedAt: now.AddDate(0, -1, 0),
			PlanID: w.plan.ID, PackageType: w.plan.PackageType, PeriodDays: w.plan.PeriodDays,
		},
		TimerAt: events.CeilSecond(wake),
	}
	if i%2 == 0 { // past due: suspended when the grace period ends
		r.Desired.Status, r.Desired.SuspendAt = provisioning.StatusSuspended, wake
		r.Desired.SubStatus, r.Desired.SubStatusAsOf, r.Desired.Dunning = "past_due", now, []time.Time{now}
	} else { // canceled: deleted when the retention ends
		r.Desired.Status, r.Desired.DeleteAt = provisioning.StatusCanceled, wake
		r.Desired.SubStatus, r.Desired.SubStatusAsOf = "canceled", now
		r.Actual.Enabled = false
	}
	return r
}

// run starts the worker (worker.Run, as cmd/worker does) until the test ends.
func (w *scaleWorld) run(tb testing.TB, log *zap.Logger) {
	tb.Helper()
	_, js := harness.Connect(tb, w.ns, "scale-worker")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- worker.Run(ctx, js, w.cfg, log) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("worker: %v", err)
		}
	})
}

// graceEndsAt makes an account at the simulator (through its own API) and
// the record of a subscription past due whose grace period ends at at, its
// timer scheduled. It returns the record key and the username.
func (w *scaleWorld) graceEndsAt(tb testing.TB, at time.Time) (string, string) {
	tb.Helper()
	key, username := w.pastDue(tb, at)
	if err := events.ScheduleTimer(context.Background(), w.js, key, events.CeilSecond(at)); err != nil {
		tb.Fatal(err)
	}
	return key, username
}

// pastDue is graceEndsAt without the timer.
func (w *scaleWorld) pastDue(tb testing.TB, at time.Time) (string, string) {
	tb.Helper()
	sum := md5.Sum([]byte(pureAPIPassword))
	resp, err := http.PostForm(w.url, url.Values{"API": {"True"}, "api_user": {pureAPIUser},
		"api_password": {hex.EncodeToString(sum[:])}, "method": {"create"}, "package_type": {"STANDARD"}, "period": {"#30"}})
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var created struct {
		Result  string `xml:"result"`
		Message string `xml:"message"`
		User    string `xml:"user"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&created); err != nil || created.Result != "1" {
		tb.Fatalf("create at the simulator: %v %+v", err, created)
	}
	now := time.Now().UTC()
	r := w.futureRecord(0, now, at)
	r.Key = fmt.Sprintf("sub_due%d", now.UnixNano())
	r.Desired.Subscription, r.Desired.Email, r.Desired.CustomerName = r.Key, "late@example.com", "Late Payer"
	r.Actual.Username = created.User
	data, err := json.Marshal(r)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := w.kv.Create(ctx, r.Key, data); err != nil {
		tb.Fatal(err)
	}
	return r.Key, created.User
}

// suspended waits until the account is disabled at the simulator and the
// customer's suspension email has arrived, and returns how long after at
// each happened. It fails the test if either takes more than within.
func (w *scaleWorld) suspended(tb testing.TB, key, username string, at time.Time, within time.Duration) (disabled, mailed time.Duration) {
	tb.Helper()
	deadline := at.Add(within)
	for disabled == 0 || mailed == 0 {
		if time.Now().After(deadline) {
			e, _ := w.kv.Get(context.Background(), key)
			var r provisioning.Record
			if e != nil {
				_ = json.Unmarshal(e.Value(), &r)
			}
			tb.Fatalf("%s: not suspended and told within %s of its grace end (disabled after %s, mailed after %s); record: status %s enabled %v mail owed %v step %v lease %v timer %v",
				key, within, disabled, mailed, r.Desired.Status, r.Actual.Enabled, r.Mail, r.Step, r.Lease, r.TimerAt)
		}
		if a, ok := w.sim.Account(username); disabled == 0 && ok && !a.Enabled {
			disabled = time.Since(at)
		}
		if mailed == 0 && slices.ContainsFunc(w.mail.Messages(), func(m mailcatcher.Received) bool {
			return strings.HasPrefix(m.MessageID, "<suspended.1."+key+"@") && slices.Contains(m.To, "late@example.com")
		}) {
			mailed = time.Since(at)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return disabled, mailed
}

// timersConsumer returns the durable consumer of due timers, as it is now.
func (w *scaleWorld) timersConsumer(tb testing.TB) *jetstream.ConsumerInfo {
	tb.Helper()
	c, err := w.js.Consumer(context.Background(), events.StreamTimers, events.ConsumerTimers)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return info
}

func TestTimersAtScale(t *testing.T) {
	// Not parallel: it measures a latency, so it runs alone.
	n := scaleRecords(t, "VPNBILL_TIMER_SCALE_RECORDS", 100_000)
	w := newScaleWorld(t)
	took := w.fill(t, n)
	t.Logf("%d records with future wake-ups written, each with its timer, in %s", n, took.Round(time.Millisecond))

	w.run(t, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	at := time.Now().Add(5 * time.Second)
	key, username := w.graceEndsAt(t, at)
	disabled, mailed := w.suspended(t, key, username, at, time.Minute)
	t.Logf("grace end at %s: account disabled %s later, suspension email %s later (timers are kept to the second: %s of it is rounding up)",
		at.Format("15:04:05.000"), disabled.Round(time.Millisecond), mailed.Round(time.Millisecond), events.CeilSecond(at).Sub(at).Round(time.Millisecond))

	// Not one of the future timers reached the consumer: it holds due work only.
	info := w.timersConsumer(t)
	if info.Delivered.Consumer > 3 || info.NumPending > 0 {
		t.Errorf("consumer %s delivered %d and has %d pending: future timers reached it", events.ConsumerTimers, info.Delivered.Consumer, info.NumPending)
	}
	if calls := w.sim.Calls("update_account"); calls != 1 {
		t.Errorf("%d update_account calls at the provider, want 1 (only the due account)", calls)
	}
}

// A deployment upgraded from the timers before the index has each wake-up
// as a message timer.due.<record>, parked by NakWithDelay or not yet
// delivered. The new handler reconciles each when it comes: one already
// due is carried out, one still ahead is indexed again. Either leaves the
// stream once handled, and none keeps a slot of the consumer.
func TestTimersOfOldVersionsAreHandled(t *testing.T) {
	t.Parallel()
	w := newScaleWorld(t)
	ctx := context.Background()
	old := func(key string, at time.Time) { // as vpnbill published a timer before the index
		if _, err := w.js.Publish(ctx, "timer.due."+key, []byte(at.UTC().Format(time.RFC3339Nano))); err != nil {
			t.Fatal(err)
		}
	}
	dueKey, dueUser := w.pastDue(t, time.Now().Add(-time.Minute))
	old(dueKey, time.Now().Add(-time.Minute))
	ahead := events.CeilSecond(time.Now().Add(48 * time.Hour))
	r := w.futureRecord(7, time.Now().UTC(), ahead)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.kv.Create(ctx, r.Key, data); err != nil {
		t.Fatal(err)
	}
	old(r.Key, ahead)

	w.run(t, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	w.suspended(t, dueKey, dueUser, time.Now(), 30*time.Second)
	indexed := fmt.Sprintf("timer.at.%d.%02d.%s.*", ahead.Unix()/60, ahead.Unix()%60, r.Key)
	st, err := w.js.Stream(ctx, events.StreamTimers)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter("timer.>"))
		if err != nil {
			t.Fatal(err)
		}
		var due, index int
		for subj := range info.State.Subjects {
			switch {
			case strings.HasPrefix(subj, "timer.due."):
				due++
			case strings.HasPrefix(subj, "timer.at."):
				index++
			}
		}
		ci := w.timersConsumer(t)
		if due == 0 && index == 1 && len(w.subjectsOf(t, st, indexed)) == 1 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old timers not handled: subjects %v, consumer ack pending %d", info.State.Subjects, ci.NumAckPending)
		}
	}
}

func (w *scaleWorld) subjectsOf(tb testing.TB, st jetstream.Stream, filter string) map[string]uint64 {
	tb.Helper()
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Subjects
}

// BenchmarkDueTimerLatency measures, with $VPNBILL_TIMER_BENCH_RECORDS
// (default 1,000,000) records holding future wake-ups, how long after a
// grace period ends its account is disabled at the provider (latency-ms,
// the mean over the iterations; max-latency-ms; after-second-ms, the mean
// after the whole second the wake-up was rounded up to) and the customer
// told (mail-latency-ms). Run it alone, a few iterations, e.g.
//
//	go test ./internal/worker/ -run '^$' -bench DueTimerLatency -benchtime 5x -timeout 30m
func BenchmarkDueTimerLatency(b *testing.B) {
	n := scaleRecords(b, "VPNBILL_TIMER_BENCH_RECORDS", 1_000_000)
	w := newScaleWorld(b)
	took := w.fill(b, n)
	b.Logf("%d records with future wake-ups written in %s", n, took.Round(time.Millisecond))
	w.run(b, zap.NewNop())
	var sum, worst, mailSum, rounded time.Duration
	n = 0
	for b.Loop() { // b.Loop: the setup above runs once, not again for a first probe with b.N = 1
		// Spread over the second, so the scanner's tick phase is sampled.
		at := time.Now().Add(3*time.Second + time.Duration(n)*137*time.Millisecond%time.Second)
		key, username := w.graceEndsAt(b, at)
		disabled, mailed := w.suspended(b, key, username, at, time.Minute)
		sum, worst, mailSum = sum+disabled, max(worst, disabled), mailSum+mailed
		rounded += events.CeilSecond(at).Sub(at)
		n++
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(n), "latency-ms")
	b.ReportMetric(float64(worst.Milliseconds()), "max-latency-ms")
	b.ReportMetric(float64(mailSum.Milliseconds())/float64(n), "mail-latency-ms")
	// Timers are kept to the second, rounded up: the part of the latency
	// that is the machinery's, not the rounding's.
	b.ReportMetric(float64((sum-rounded).Milliseconds())/float64(n), "after-second-ms")
}
