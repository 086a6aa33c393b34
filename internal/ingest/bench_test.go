package ingest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/perf"
)

// BenchmarkIngest sets the webhook beside its ceiling, against an embedded
// JetStream server with vpnbill's topology, each request a new event (an
// invoice.paid of the newest API version, about 3.7 KB):
//
//   - handler=ours: ingest.Handler with the production logger at warn;
//   - handler=ours-info: the same at the default level, info (a line per
//     stored event, sampled as zap's production configuration samples:
//     the first 100 a second, then one in 100);
//   - handler=ceiling: the minimal handler that stores a Stripe event, as
//     cmd/vpnbench serves it — read the body, stripe-go's
//     webhook.ValidatePayload, read the id and type, a synchronous
//     JetStream publish with Msg-Id, 200;
//   - handler=floor: the publish alone (no HTTP, no verification): what the
//     embedded server and the client library cost, counted in every other
//     row too, since the server runs in this process.
//
// via=direct calls ServeHTTP with a reused request and response writer, so
// B/op and allocs/op are the handler's (and the in-process server's);
// via=http posts over loopback from 50 connections, so ns/op is the
// inverse of throughput, and p99-µs the 99th percentile of a request.
//
// Compare the handlers side by side, e.g.
//
//	go test -c -o /tmp/ingest.test ./internal/ingest
//	for i in 1 2 3 4 5 6; do /tmp/ingest.test -test.run '^$' -test.bench Ingest -test.benchmem; done | tee new.txt
//	benchstat -col /handler new.txt
func BenchmarkIngest(b *testing.B) {
	ns := harness.NATS(b)
	nc, js := harness.Connect(b, ns, "bench")
	harness.Topology(b, js, events.Config{})
	v, err := billing.NewVerifier([]string{benchSecret}, 0)
	if err != nil {
		b.Fatal(err)
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"ours", ingest.New(ingest.Config{}, v, nc, js, productionLogger(b, zapcore.WarnLevel))},
		{"ours-info", ingest.New(ingest.Config{}, v, nc, js, productionLogger(b, zapcore.InfoLevel))},
		{"ceiling", perf.Ceiling{JS: js, Secret: benchSecret}},
	}
	tmpl := newTemplate(b)
	warmUp(b, js, tmpl)
	b.Run("via=direct", func(b *testing.B) {
		for _, h := range handlers {
			b.Run("handler="+h.name, func(b *testing.B) { direct(b, h.h, tmpl) })
		}
		b.Run("handler=floor", func(b *testing.B) { floor(b, js, tmpl) })
	})
	b.Run("via=http", func(b *testing.B) {
		for _, h := range handlers {
			b.Run("handler="+h.name, func(b *testing.B) { overHTTP(b, h.h, tmpl) })
		}
	})
}

const benchSecret = "whsec_benchSecret0123456789abcdef"

// productionLogger is the webhook's logger (envconfig's: zap's production
// JSON, sampled) at lvl, writing to /dev/null.
func productionLogger(b *testing.B, lvl zapcore.Level) *zap.Logger {
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"/dev/null"}, []string{"/dev/null"}
	log, err := zc.Build()
	if err != nil {
		b.Fatal(err)
	}
	return log
}

// template is an event whose id ends in idDigits digits at idAt, so that
// each request can be a new event without building one.
type template struct {
	payload []byte
	idAt    int
}

const idDigits = 12

// run tells the processes of one machine apart, should they share a server.
var run = strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

var nextID atomic.Int64

func newTemplate(b *testing.B) template {
	id := "evt_bench" + run + "_" + fmt.Sprintf("%0*d", idDigits, 0)
	p := stripetest.InvoicePaid(id, time.Now(), stripetest.Invoice{
		Subscription: "sub_benchmark", BillingReason: "subscription_cycle", Price: "price_std_monthly",
		AmountPaid: 999, Currency: "eur", Paid: true, Version: stripetest.Versions[len(stripetest.Versions)-1],
	})
	at := bytes.Index(p, []byte(`"`+id+`"`))
	if at < 0 {
		b.Fatal("no event id in the event")
	}
	return template{payload: p, idAt: at + 1 + len(id) - idDigits}
}

// next writes a new event into p (a copy of the template) and signs it.
func (t template) next(p []byte, s *signer) string {
	copy(p, t.payload)
	n := nextID.Add(1)
	for i := t.idAt + idDigits - 1; i >= t.idAt; i-- {
		p[i] = byte('0' + n%10)
		n /= 10
	}
	return s.sign(p)
}

// signer signs as Stripe does, reusing its buffers.
type signer struct {
	mac hash.Hash
	buf []byte
}

func newSigner() *signer { return &signer{mac: hmac.New(sha256.New, []byte(benchSecret))} }

func (s *signer) sign(p []byte) string {
	s.mac.Reset()
	s.buf = strconv.AppendInt(append(s.buf[:0], "t="...), time.Now().Unix(), 10)
	s.mac.Write(s.buf[2:])
	s.mac.Write([]byte("."))
	s.mac.Write(p)
	s.buf = append(s.buf, ",v1="...)
	var sum [sha256.Size]byte
	s.buf = hex.AppendEncode(s.buf, s.mac.Sum(sum[:0]))
	return string(s.buf)
}

// direct serves b.N new events through h, reusing one request and one
// response writer; the events are made in batches with the timer stopped.
func direct(b *testing.B, h http.Handler, t template) {
	const batch = 512
	payloads := make([][]byte, batch)
	sigs := make([][]string, batch)
	for i := range payloads {
		payloads[i] = make([]byte, len(t.payload))
		sigs[i] = make([]string, 1)
	}
	s := newSigner()
	body := &body{}
	req := httptest.NewRequest(http.MethodPost, "/stripe/webhook", nil)
	req.Body = body
	req.ContentLength = int64(len(t.payload))
	w := &sink{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(t.payload)))
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			for j := range payloads {
				sigs[j][0] = t.next(payloads[j], s)
			}
			b.StartTimer()
		}
		body.Reset(payloads[i%batch])
		req.Header["Stripe-Signature"] = sigs[i%batch]
		clear(w.h)
		w.code = 0
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("answered %d", w.code)
		}
	}
}

// floor publishes b.N new events as the handlers do, without HTTP or
// verification; the events are made in batches with the timer stopped.
func floor(b *testing.B, js jetstream.JetStream, t template) {
	const batch = 512
	payloads := make([][]byte, batch)
	ids := make([]string, batch)
	for i := range payloads {
		payloads[i] = make([]byte, len(t.payload))
	}
	s := newSigner()
	idStart := t.idAt - len("evt_bench"+run+"_")
	b.ReportAllocs()
	b.SetBytes(int64(len(t.payload)))
	b.ResetTimer()
	for i := range b.N {
		if i%batch == 0 {
			b.StopTimer()
			for j, p := range payloads {
				t.next(p, s)
				ids[j] = string(p[idStart : t.idAt+idDigits])
			}
			b.StartTimer()
		}
		msg := &nats.Msg{Subject: "stripe.event.invoice.paid", Data: payloads[i%batch]}
		if _, err := js.PublishMsg(b.Context(), msg, jetstream.WithMsgID(ids[i%batch])); err != nil {
			b.Fatal(err)
		}
	}
}

// warmUp stores events until the stream's store has started new blocks,
// so that the first handler measured is not the one that pays for them.
func warmUp(b *testing.B, js jetstream.JetStream, t template) {
	p := make([]byte, len(t.payload))
	s := newSigner()
	idStart := t.idAt - len("evt_bench"+run+"_")
	for range 5000 {
		t.next(p, s)
		msg := &nats.Msg{Subject: "stripe.event.invoice.paid", Data: p}
		if _, err := js.PublishMsg(b.Context(), msg, jetstream.WithMsgID(string(p[idStart:t.idAt+idDigits]))); err != nil {
			b.Fatal(err)
		}
	}
}

// overHTTP posts new events to h over loopback from 50 connections and
// reports the 99th percentile of a request.
func overHTTP(b *testing.B, h http.Handler, t template) {
	srv := httptest.NewUnstartedServer(h)
	srv.Config = ingest.NewServer("", h)
	srv.Start()
	defer srv.Close()
	const conns = 50
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	url := srv.URL + "/stripe/webhook"
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(t.payload)))
	b.SetParallelism((conns + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := make([]byte, len(t.payload))
		s := newSigner()
		body := &body{}
		req, err := http.NewRequest(http.MethodPost, url, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Body = body
		req.ContentLength = int64(len(p))
		req.Header["Content-Type"] = []string{"application/json"}
		sig := make([]string, 1)
		req.Header["Stripe-Signature"] = sig
		var mine []time.Duration
		for pb.Next() {
			sig[0] = t.next(p, s)
			body.Reset(p)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			mine = append(mine, time.Since(start))
			if resp.StatusCode != http.StatusOK {
				b.Errorf("answered %d", resp.StatusCode)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(latencies) > 0 {
		slices.Sort(latencies)
		p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
		b.ReportMetric(float64(p99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
}

// BenchmarkIngestAlternating serves the webhook (at warn) and the ceiling
// over loopback from 50 connections each, in alternating windows of 200 ms
// (one pair per b.N), so that what else the machine runs weighs on both
// alike. It reports each one's req/s, p99 and bytes and allocations per
// request (of the whole process: client, handler and embedded server), and
// the ratios ours ÷ ceiling the targets are stated in.
//
//	go test -run '^$' -bench IngestAlternating -benchtime 20x ./internal/ingest
func BenchmarkIngestAlternating(b *testing.B) {
	ns := harness.NATS(b)
	nc, js := harness.Connect(b, ns, "bench")
	harness.Topology(b, js, events.Config{})
	v, err := billing.NewVerifier([]string{benchSecret}, 0)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := newTemplate(b)
	warmUp(b, js, tmpl)
	sides := []*side{
		newSide(b, ingest.New(ingest.Config{}, v, nc, js, productionLogger(b, zapcore.WarnLevel)), tmpl),
		newSide(b, perf.Ceiling{JS: js, Secret: benchSecret}, tmpl),
	}
	const window = 200 * time.Millisecond
	b.ResetTimer()
	for i := range b.N {
		for j := range sides {
			sides[(i+j)%2].window(b, window) // who goes first alternates too
		}
	}
	b.StopTimer()
	ours, ceil := sides[0], sides[1]
	for _, m := range []struct {
		unit       string
		ours, ceil float64
	}{
		{"req/s", ours.rate(), ceil.rate()},
		{"p99-µs", ours.p99(), ceil.p99()},
		{"B/req", ours.bytesPerReq(), ceil.bytesPerReq()},
		{"allocs/req", ours.allocsPerReq(), ceil.allocsPerReq()},
		{"cpu-µs/req", ours.cpuPerReq(), ceil.cpuPerReq()},
	} {
		b.ReportMetric(m.ours, "ours-"+m.unit)
		b.ReportMetric(m.ceil, "ceiling-"+m.unit)
		b.ReportMetric(m.ours/m.ceil, "ratio-"+m.unit)
	}
}

// side is one handler behind its own server, and what its windows measured.
type side struct {
	url     string
	client  *http.Client
	tmpl    template
	workers []*worker

	n                int64
	elapsed, cpu     time.Duration
	bytes, mallocs   uint64
	latencies        []time.Duration
	latenciesGuarded sync.Mutex
}

// worker is one connection's request, reused.
type worker struct {
	p    []byte
	s    *signer
	body *body
	req  *http.Request
	sig  []string
}

func newSide(b *testing.B, h http.Handler, t template) *side {
	srv := httptest.NewUnstartedServer(h)
	srv.Config = ingest.NewServer("", h)
	srv.Start()
	b.Cleanup(srv.Close)
	const conns = 50
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	b.Cleanup(tr.CloseIdleConnections)
	s := &side{url: srv.URL + "/stripe/webhook", client: &http.Client{Transport: tr}, tmpl: t}
	for range conns {
		w := &worker{p: make([]byte, len(t.payload)), s: newSigner(), body: &body{}, sig: make([]string, 1)}
		req, err := http.NewRequest(http.MethodPost, s.url, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Body, req.ContentLength = w.body, int64(len(w.p))
		req.Header["Content-Type"] = []string{"application/json"}
		req.Header["Stripe-Signature"] = w.sig
		w.req = req
		s.workers = append(s.workers, w)
	}
	return s
}

// window posts from every worker until d has passed.
func (s *side) window(b *testing.B, d time.Duration) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := cpuTime(b)
	start := time.Now()
	deadline := start.Add(d)
	var n atomic.Int64
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 256)
			for time.Now().Before(deadline) {
				w.sig[0] = s.tmpl.next(w.p, w.s)
				w.body.Reset(w.p)
				t0 := time.Now()
				resp, err := s.client.Do(w.req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				mine = append(mine, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Errorf("answered %d", resp.StatusCode)
					return
				}
			}
			n.Add(int64(len(mine)))
			s.latenciesGuarded.Lock()
			s.latencies = append(s.latencies, mine...)
			s.latenciesGuarded.Unlock()
		})
	}
	wg.Wait()
	s.elapsed += time.Since(start)
	s.cpu += cpuTime(b) - cpu
	runtime.ReadMemStats(&after)
	s.n += n.Load()
	s.bytes += after.TotalAlloc - before.TotalAlloc
	s.mallocs += after.Mallocs - before.Mallocs
}

// cpuTime is the CPU time this process has used, user and system: less
// swayed than req/s by what else the machine runs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (s *side) cpuPerReq() float64 {
	return float64(s.cpu.Microseconds()) / float64(max(s.n, 1))
}

func (s *side) rate() float64         { return float64(s.n) / s.elapsed.Seconds() }
func (s *side) bytesPerReq() float64  { return float64(s.bytes) / float64(max(s.n, 1)) }
func (s *side) allocsPerReq() float64 { return float64(s.mallocs) / float64(max(s.n, 1)) }

func (s *side) p99() float64 {
	if len(s.latencies) == 0 {
		return 0
	}
	slices.Sort(s.latencies)
	return float64(s.latencies[min(len(s.latencies)-1, len(s.latencies)*99/100)].Microseconds())
}

// body is a request body that can be read again.
type body struct{ bytes.Reader }

func (*body) Close() error { return nil }

// sink is a response writer that keeps only the status.
type sink struct {
	h    http.Header
	code int
}

func (s *sink) Header() http.Header { return s.h }
func (s *sink) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
}

func (s *sink) Write(p []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(p), nil
}
