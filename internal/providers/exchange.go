package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/zap"
)

// Call describes one provider method for the exchange.
type Call struct {
	Method string // the provider's method or resource, for errors, logs and metrics
	// Idempotent: the method may be sent twice with the same effect as once
	// (status, lists, stats, delete, enable/disable). Only idempotent calls
	// are retried after an Uncertain or Unavailable answer; the others
	// (create, add_tunnel, renew, change_password) only after NotSent or
	// Throttled, and a fresh connection is used for them so that Go's
	// transport can never re-send them on its own.
	Idempotent bool
}

// ExchangeConfig configures an Exchange.
type ExchangeConfig struct {
	Provider Name
	// Timeout bounds one attempt, from dial to the end of the body. Default 15s.
	Timeout time.Duration
	// RetryFor bounds all attempts of one call, waits included; zero makes
	// one attempt, with no retry. Default (nil) 30s. The caller's context
	// deadline, if sooner, wins.
	RetryFor *time.Duration
	// MaxBody caps how much of an answer is read. Default 1 MiB.
	MaxBody int64
	// Secrets are scrubbed from every error the exchange returns and every
	// line it logs, raw and URL-encoded (API passwords, their md5, API keys).
	Secrets []string
	// Transport is the base transport. Default: a clone of http.DefaultTransport.
	Transport *http.Transport
	// Logger receives one debug line per attempt. Default: none.
	Logger *zap.Logger
	// Observe, if set, is called once per call with its outcome (nil or a
	// *Error) and its duration, for metrics.
	Observe func(method string, err error, took time.Duration)
}

// WithDefaults returns a copy of c with every unset field set to its
// default.
func (c ExchangeConfig) WithDefaults() ExchangeConfig {
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.RetryFor == nil || *c.RetryFor < 0 {
		c.RetryFor = new(30 * time.Second)
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Exchange performs HTTP calls to one provider and turns every failure into
// an *Error of the right class. It is safe for concurrent use.
type Exchange struct {
	cfg    ExchangeConfig
	pooled *http.Client // idempotent calls: keep-alive connections
	fresh  *http.Client // non-idempotent calls: one connection per request, never reused
	scrub  *strings.Replacer
}

// NewExchange returns an Exchange for cfg.
func NewExchange(cfg ExchangeConfig) *Exchange {
	cfg = cfg.WithDefaults()
	fresh := cfg.Transport.Clone()
	fresh.DisableKeepAlives = true
	return &Exchange{
		cfg:    cfg,
		pooled: &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirect},
		fresh:  &http.Client{Transport: fresh, CheckRedirect: noRedirect},
		scrub:  NewScrubber(cfg.Secrets...),
	}
}

// A provider API that redirects is misconfigured; following it could resend
// a POST as a GET elsewhere with the credentials.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Scrub removes every configured secret from s.
func (x *Exchange) Scrub(s string) string { return x.scrub.Replace(s) }

// Response is a provider's answer that arrived whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do performs call, building a new request for each attempt with newReq, and
// retries what is safe to retry with exponential backoff. It returns the
// answer of any status below 400 except through the classes: 401/403 →
// Unauthorized, 429 or a Retry-After → Throttled, 5xx → Unavailable, other
// 4xx → Rejected. Interpreting a 2xx body (which may still say no) is the
// client's job. ctx cancellation stops waiting at once.
func (x *Exchange) Do(ctx context.Context, call Call, newReq func(ctx context.Context) (*http.Request, error)) (*Response, error) {
	start := time.Now()
	retryFor := *x.cfg.RetryFor
	var policy backoff.BackOff = &backoff.StopBackOff{} // RetryFor 0: one attempt
	if retryFor > 0 {
		policy = backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(200*time.Millisecond),
			backoff.WithMaxInterval(5*time.Second),
			backoff.WithMaxElapsedTime(retryFor),
		)
	}
	bo := &hintedBackOff{BackOff: policy}
	attempt := 0
	var last *Error // the last classified failure, in case ctx ends during a wait
	resp, err := backoff.RetryWithData(func() (*Response, error) {
		attempt++
		r, err := x.attempt(ctx, call, newReq)
		if err == nil {
			return r, nil
		}
		_ = errors.As(err, &last)
		x.cfg.Logger.Debug("provider call failed",
			zap.String("provider", string(x.cfg.Provider)), zap.String("method", call.Method),
			zap.Int("attempt", attempt), zap.Error(err))
		if ctx.Err() != nil || !retryable(call, err) {
			return nil, backoff.Permanent(err)
		}
		var pe *Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			if pe.RetryAfter > retryFor-time.Since(start) {
				return nil, backoff.Permanent(err) // too long to wait here: the caller redelivers later
			}
			bo.hint = pe.RetryAfter
		}
		return nil, err
	}, backoff.WithContext(bo, ctx))
	var perm *backoff.PermanentError
	if errors.As(err, &perm) {
		err = perm.Err
	}
	if err != nil && ClassOf(err) == 0 && last != nil {
		// The context ended while waiting to retry: report what the
		// provider last said, which is what the caller must act on.
		e := *last
		e.Err = errors.Join(last.Err, err)
		err = &e
	}
	if x.cfg.Observe != nil {
		x.cfg.Observe(call.Method, err, time.Since(start))
	}
	return resp, err
}

// hintedBackOff waits at least as long as the provider's Retry-After asked.
type hintedBackOff struct {
	backoff.BackOff
	hint time.Duration
}

func (b *hintedBackOff) NextBackOff() time.Duration {
	d := b.BackOff.NextBackOff()
	if d != backoff.Stop && b.hint > d {
		d = b.hint
	}
	b.hint = 0
	return d
}

func retryable(call Call, err error) bool {
	switch ClassOf(err) {
	case NotSent, Throttled:
		return true
	case Uncertain, Unavailable:
		return call.Idempotent
	default:
		return false
	}
}

func (x *Exchange) attempt(ctx context.Context, call Call, newReq func(ctx context.Context) (*http.Request, error)) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, x.cfg.Timeout)
	defer cancel()
	var wrote atomic.Bool // set on the transport's write goroutine
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			// A failed write may still have put bytes on the wire: only a
			// write that never completed and failed before anything left
			// counts as not sent. Go reports partial writes as errors here,
			// so treat any WroteRequest as "may have left".
			wrote.Store(true)
		},
	})
	req, err := newReq(ctx)
	if err != nil {
		return nil, x.fail(call, NotSent, "", fmt.Errorf("build request: %w", err))
	}
	client := x.pooled
	if !call.Idempotent {
		client = x.fresh
	}
	hr, err := client.Do(req)
	if err != nil {
		if !wrote.Load() {
			return nil, x.fail(call, NotSent, "", err)
		}
		return nil, x.fail(call, Uncertain, "", err)
	}
	defer hr.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hr.Body, x.cfg.MaxBody))
	if err != nil {
		return nil, x.fail(call, Uncertain, "", fmt.Errorf("read answer: %w", err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(hr.Body, 64<<10)) // let the connection be reused
	resp := &Response{Status: hr.StatusCode, Header: hr.Header, Body: body}
	retryAfter := parseRetryAfter(hr.Header.Get("Retry-After"), time.Now())
	switch {
	case hr.StatusCode == http.StatusTooManyRequests || (retryAfter > 0 && hr.StatusCode == http.StatusServiceUnavailable && call.Idempotent):
		// A 503 may follow a committed change: only an idempotent call is
		// re-sent after it; for the others it stays Unavailable (below).
		e := x.fail(call, Throttled, fmt.Sprintf("HTTP %d", hr.StatusCode), nil)
		e.RetryAfter = retryAfter
		return nil, e
	case hr.StatusCode == http.StatusUnauthorized || hr.StatusCode == http.StatusForbidden:
		return nil, x.fail(call, Unauthorized, fmt.Sprintf("HTTP %d: %s", hr.StatusCode, x.Excerpt(body)), nil)
	case hr.StatusCode >= 500:
		e := x.fail(call, Unavailable, fmt.Sprintf("HTTP %d: %s", hr.StatusCode, x.Excerpt(body)), nil)
		e.RetryAfter = retryAfter // a hint for the redelivery delay
		return nil, e
	case hr.StatusCode >= 400:
		return nil, x.fail(call, Rejected, fmt.Sprintf("HTTP %d: %s", hr.StatusCode, x.Excerpt(body)), nil)
	}
	return resp, nil
}

// Fail builds an *Error of class for call, with reason and cause scrubbed.
// Clients use it for the failures they find in a 2xx body.
func (x *Exchange) Fail(method string, class Class, reason string) *Error {
	return x.fail(Call{Method: method}, class, reason, nil)
}

func (x *Exchange) fail(call Call, class Class, reason string, cause error) *Error {
	e := &Error{Provider: x.cfg.Provider, Method: call.Method, Class: class, Reason: x.scrub.Replace(reason)}
	if cause != nil {
		e.Err = scrubbedError{msg: x.scrub.Replace(scrubURLError(cause)), cause: cause}
	}
	return e
}

// scrubbedError carries the scrubbed text of a transport error. It unwraps to
// the cause's class-relevant parts (net.Error, context errors) for errors.Is
// checks, while Error() shows only the scrubbed text.
type scrubbedError struct {
	msg   string
	cause error
}

func (e scrubbedError) Error() string { return e.msg }

// Is lets errors.Is(err, context.DeadlineExceeded) and friends see through
// the scrubbing without exposing the unscrubbed text.
func (e scrubbedError) Is(target error) bool { return errors.Is(e.cause, target) }

// Timeout reports whether the cause was a timeout.
func (e scrubbedError) Timeout() bool {
	var ne net.Error
	return errors.As(e.cause, &ne) && ne.Timeout()
}

// scrubURLError drops the query of the URL a *url.Error names: the VPNKI key
// travels there, and the scrubber alone would miss an encoding it was not told of.
func scrubURLError(err error) string {
	msg := err.Error()
	return urlQuery.ReplaceAllString(msg, "?[query removed]")
}

var urlQuery = regexp.MustCompile(`\?[^\s"]*`)

// NewScrubber returns a replacer that removes each non-empty secret, raw and
// in its URL query and path encodings, replacing it with "[redacted]".
func NewScrubber(secrets ...string) *strings.Replacer {
	seen := map[string]bool{}
	var forms []string
	for _, s := range secrets {
		for _, f := range []string{s, url.QueryEscape(s), url.PathEscape(s), strings.Join(strings.Fields(s), " ")} {
			if f != "" && !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	// Longest first: a secret that begins another must not leave its tail.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	pairs := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		pairs = append(pairs, f, "[redacted]")
	}
	return strings.NewReplacer(pairs...)
}

// Excerpt returns at most 200 bytes of body, for an error reason, with the
// configured secrets and any password value scrubbed.
func (x *Exchange) Excerpt(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	s = x.scrub.Replace(ScrubPasswords(s))
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

var passwordValues = []*regexp.Regexp{
	regexp.MustCompile(`(?is)(<(vpn_password|password|new_pass)(?:\s[^>]*)?>).*?(</(vpn_password|password|new_pass)\s*>|$)`),
	regexp.MustCompile(`(?i)("(vpn_password|password|new_pass)"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\s]*)`),
}

// ScrubPasswords replaces the value of every vpn_password, password and
// new_pass element or JSON member in s with "[redacted]".
func ScrubPasswords(s string) string {
	s = passwordValues[0].ReplaceAllString(s, `${1}[redacted]${3}`)
	return passwordValues[1].ReplaceAllString(s, `${1}"[redacted]"`)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
