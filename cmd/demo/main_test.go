package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/ops"
)

// noEnv is an environment without STRIPE_API_KEY or STRIPE_WEBHOOK_SECRET,
// whatever the test's own: the demo then uses stripe-mock.
func noEnv(string) string { return "" }

// loopback are the flags that put every listener of the demo on a free
// loopback port.
var loopback = []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-portal-addr", "127.0.0.1:0"}

// The README's first command must work: the sample purchase ends in an
// account at the simulator, a welcome email that links to the customer
// page, and the payment in the finance report, and -once exits cleanly
// without waiting for stripe-mock.
func TestDemoOnceCompletesTheSample(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, append([]string{"-once", "-data", t.TempDir()}, loopback...), noEnv, &out); err != nil {
		t.Fatalf("demo -once: %v", err) // the output holds the sample's password: not printed
	}
	for _, want := range []string{
		`checkout.session.completed (evt_`, `invoice.paid (evt_`, `webhook answered 200 {"status":"stored"}`,
		"Your VPN account is ready", "✓ PureVPN simulator holds account", ".eml",
		"✓ finance report: the payment of 9.99 EUR for invoice in_",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Count(out.String(), `webhook answered 200 {"status":"stored"}`) != 2 {
		t.Error("the webhook did not store both the checkout and the first invoice")
	}
	if !regexp.MustCompile(`http://127\.0\.0\.1:\d+/account\?t=[A-Za-z0-9_-]+`).MatchString(welcomeEmail(t, out.String())) {
		t.Error("the welcome email carries no link to the customer page")
	}
	if strings.Contains(out.String(), "checkout link:") {
		t.Error("-once started stripe-mock for a checkout link")
	}
}

// A port that is taken stops the demo at once, naming the flag that moves it.
func TestDemoRefusesATakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, flagName := range []string{"-addr", "-admin-addr", "-portal-addr"} {
		args := append([]string{"-data", t.TempDir()}, loopback...)
		args[slices.Index(args, flagName)+1] = ln.Addr().String()
		err := run(t.Context(), args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "try "+flagName+" 127.0.0.1:0") {
			t.Errorf("%s on a taken port: %v, want an error naming the flag", flagName, err)
		}
	}
}

// The demo serves Stripe's test mode: a live key is refused before
// anything starts.
func TestDemoRefusesALiveStripeKey(t *testing.T) {
	t.Parallel()
	getenv := func(name string) string {
		if name == "STRIPE_API_KEY" {
			return "sk_live_demo"
		}
		return ""
	}
	err := run(t.Context(), append([]string{"-data", t.TempDir()}, loopback...), getenv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "test mode") {
		t.Fatalf("demo with a live key: %v, want it refused", err)
	}
	if strings.Contains(err.Error(), "sk_live_demo") {
		t.Error("the error quotes the key")
	}
}

// demo is a demo serving for a test, and what it printed.
type demo struct {
	out     *harness.Buffer
	data    string
	stopped chan struct{} // closed when run returned err
	err     error
}

// serve runs the demo until the end of the test and returns once it
// serves (it printed its instructions).
func serve(t *testing.T) *demo {
	t.Helper()
	d := &demo{out: &harness.Buffer{}, data: t.TempDir(), stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(d.stopped)
		d.err = run(ctx, append([]string{"-data", d.data}, loopback...), noEnv, d.out)
	}()
	t.Cleanup(func() {
		cancel()
		<-d.stopped
		if d.err != nil {
			t.Errorf("demo: %v", d.err)
		}
	})
	d.waitFor(t, regexp.MustCompile(`Emails are kept in`), 90*time.Second)
	return d
}

// waitFor waits until the demo printed a match of re, and returns it.
func (d *demo) waitFor(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.After(within)
	for {
		if m := re.FindStringSubmatch(d.out.String()); m != nil {
			return m
		}
		select {
		case <-d.stopped:
			t.Fatalf("demo stopped: %v", d.err)
		case <-deadline:
			t.Fatalf("the demo printed no %q within %s", re, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// printed is what the demo printed that matches re (one group).
func (d *demo) printed(t *testing.T, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(d.out.String())
	if m == nil {
		t.Fatalf("the demo printed nothing that matches %q", re)
	}
	return m[1]
}

// The demo as a user meets it: it serves the console with the login it
// printed, the sample's customer page at the link it printed (and the
// welcome email carries), a checkout link over stripe-mock, and an
// environment with which vpnbillctl's report, reconcile and accounts show
// work against it as printed.
func TestDemoServes(t *testing.T) {
	t.Parallel()
	d := serve(t)
	username := d.printed(t, `✓ PureVPN simulator holds account (\S+) `)

	t.Run("the welcome email links to the customer page", func(t *testing.T) {
		page := d.printed(t, `(?m)^  customer page +(http://\S+)$`)
		base, _, _ := strings.Cut(page, "?")
		link := regexp.MustCompile(regexp.QuoteMeta(base) + `\?t=[A-Za-z0-9_-]+`).FindString(welcomeEmail(t, d.out.String()))
		if link == "" {
			t.Fatalf("the welcome email carries no link to %s", base)
		}
		for name, l := range map[string]string{"printed": page, "emailed": link} {
			if body := openCustomerPage(t, l, base); !strings.Contains(body, username) || !strings.Contains(body, sampleEmail) {
				t.Errorf("the %s link opens a page without the sample's username %s and email", name, username)
			}
		}
	})

	t.Run("the console signs the printed login in", func(t *testing.T) {
		admin := d.printed(t, `(?m)^  operator console +(http://\S+)/$`)
		m := regexp.MustCompile(`sign in as (\S+) with password (\S+) `).FindStringSubmatch(d.out.String())
		if m == nil || m[1] != demoOperator {
			t.Fatalf("no demo login printed: %v", m)
		}
		if status, _ := signIn(t, admin, m[1], m[2]+"x"); status != http.StatusUnauthorized {
			t.Errorf("sign-in with a wrong password: %d, want 401", status)
		}
		status, c := signIn(t, admin, m[1], m[2])
		if status != http.StatusSeeOther {
			t.Fatalf("sign-in with the printed login: %d, want 303", status)
		}
		// Signed in, the console finds the sample's account (the search
		// moves to the one account it finds).
		resp, err := (&http.Client{Jar: c.Jar}).Get(admin + "/accounts?q=" + url.QueryEscape(sampleEmail))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), username) {
			t.Errorf("the console's search for %s: %d, without the sample's username", sampleEmail, resp.StatusCode)
		}
	})

	t.Run("vpnbillctl works against the demo as printed", func(t *testing.T) {
		envPath := filepath.Join(d.data, envFileName)
		fi, err := os.Stat(envPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", envPath, fi.Mode().Perm())
		}
		setLine := d.printed(t, `(?m)^  (set -a; \. \S+; set \+a)$`)
		if !strings.Contains(setLine, envPath) {
			t.Errorf("the demo prints %q, not the file it wrote, %s", setLine, envPath)
		}
		env := sourced(t, setLine)
		for _, name := range []string{"NATS_URL", "PLANS_FILE", "PUREVPN_API_URL", "VPNKI_API_URL", "SMTP_URL", "CREDENTIALS_KEY", "PORTAL_URL", "PORTAL_KEY"} {
			if env[name] == "" {
				t.Errorf("the environment sets no %s", name)
			}
		}
		if env["STRIPE_MODE"] != "test" {
			t.Errorf("STRIPE_MODE=%q, want test", env["STRIPE_MODE"])
		}
		for _, secret := range []string{"PUREVPN_API_PASSWORD", "VPNKI_API_KEY", "CREDENTIALS_KEY", "PORTAL_KEY"} {
			if v := env[secret]; v == "" || strings.Contains(d.out.String(), v) {
				t.Errorf("%s is unset or printed", secret)
			}
		}

		ctl := harness.GoBuild(t, "./cmd/vpnbillctl")
		commands := regexp.MustCompile(`(?m)^  go run \./cmd/vpnbillctl (.+)$`).FindAllStringSubmatch(d.out.String(), -1)
		var names []string
		for _, c := range commands {
			args := strings.Fields(c[1])
			names = append(names, args[0])
			out, errOut := vpnbillctl(t, ctl, setLine, args...)
			switch args[0] {
			case "report":
				if !strings.Contains(out, ": 1 payments, 0 mismatches") || !strings.Contains(out, username) {
					t.Errorf("vpnbillctl %s shows no payment for the sample:\n%s", c[1], out)
				}
				var rep ops.Report
				if out, _ := vpnbillctl(t, ctl, setLine, append(args, "--json")...); json.Unmarshal([]byte(out), &rep) != nil {
					t.Fatalf("vpnbillctl %s --json:\n%s", c[1], out)
				}
				if len(rep.Totals) != 1 || rep.Totals[0].Payments != 1 || rep.Totals[0].Amount != sampleAmount || rep.Totals[0].Mode != "test" {
					t.Errorf("report totals %+v, want 1 test-mode payment of %d", rep.Totals, sampleAmount)
				}
			case "reconcile":
				if !strings.Contains(errOut, "1 records, 0 tunnels checked; 0 drift, 0 unfixed") {
					t.Errorf("vpnbillctl reconcile:\n%s%s", out, errOut)
				}
			case "accounts":
				if !strings.Contains(out, username) || !strings.Contains(out, "welcome.1     sent") {
					t.Errorf("vpnbillctl %s does not show the sample's account:\n%s", c[1], out)
				}
			}
		}
		if !slices.Equal(names, []string{"report", "reconcile", "accounts"}) {
			t.Errorf("the demo prints vpnbillctl commands %v, want report, reconcile, accounts show", names)
		}
	})

	t.Run("the checkout link redirects to stripe-mock's session", func(t *testing.T) {
		// stripe-mock starts in the background; a first build of it takes a while.
		link := d.waitFor(t, regexp.MustCompile(`✓ checkout link: (http://\S+)`), 4*time.Minute)[1]
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(link + "?email=" + url.QueryEscape(sampleEmail))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Scheme != "https" || loc.Host == "" {
			t.Errorf("GET %s: %d to %q, want 303 to the session's page", link, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, err := c.Get(strings.Replace(link, samplePlan, "no-such-plan", 1)); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
			t.Errorf("an unknown plan: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("the stripe listen command is one the CLI accepts", func(t *testing.T) {
		checkListenCommand(t, d.out.String())
	})
}

// welcomeEmail is the text of the welcome email the demo printed.
func welcomeEmail(t *testing.T, out string) string {
	t.Helper()
	_, email, ok := strings.Cut(out, `── email to `+sampleEmail+`: "Your VPN account is ready"`)
	if !ok {
		t.Fatal("no welcome email printed")
	}
	email, _, _ = strings.Cut(email, "── saved as")
	return email
}

// openCustomerPage opens link as a browser does (the link's page sets the
// session cookie and refreshes to the page's clean URL, base) and returns
// the account page.
func openCustomerPage(t *testing.T, link, base string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	for _, u := range []string{link, base} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", base, resp.StatusCode)
		}
		if u == base {
			return string(body)
		}
	}
	return ""
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts the console's sign-in form, with its CSRF token, as user
// and returns the answer's status and the client, with its session if it
// signed in (it follows no redirect).
func signIn(t *testing.T, admin, user, password string) (int, *http.Client) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(admin + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindStringSubmatch(string(page))
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /signin: %d, CSRF token %v", resp.StatusCode, m != nil)
	}
	resp, err = c.PostForm(admin+"/signin", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSeeOther {
		// Signed in: the overview answers, not the sign-in page.
		if resp, err = c.Get(admin + "/"); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("signed in, the overview answers %d", resp.StatusCode)
		}
		return http.StatusSeeOther, c
	}
	return resp.StatusCode, c
}

// sourced is the environment after the shell line setLine (the demo's
// `set -a; . file; set +a`), in a shell of an empty environment.
func sourced(t *testing.T, setLine string) map[string]string {
	t.Helper()
	cmd := exec.Command("sh", "-c", setLine+"; env -0")
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", setLine, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// vpnbillctl runs the vpnbillctl binary ctl with args in a shell that ran
// setLine first, as the demo tells a user to, and returns what it printed
// on stdout and stderr; it fails the test unless vpnbillctl exits 0.
func vpnbillctl(t *testing.T, ctl, setLine string, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", setLine + `; exec "$0" "$@"`, ctl}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		t.Errorf("vpnbillctl %s: exit %d\n%s%s", strings.Join(args, " "), ee.ExitCode(), out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// checkListenCommand checks that the demo printed a `stripe listen`
// command the real Stripe CLI accepts: only flags the CLI has, every event
// type vpnbill handles (and no other) as one comma-separated --events,
// forwarded to the demo's webhook.
func checkListenCommand(t *testing.T, out string) {
	t.Helper()
	var listen []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "stripe" && f[1] == "listen" && f[2] != "--print-secret)" {
			listen = f
		}
	}
	if listen == nil {
		t.Fatalf("no stripe listen command in the output:\n%s", out)
	}
	cliFlags := map[string]bool{"--forward-to": true, "--events": true, "--latest": false, "--print-secret": false} // true: takes a value
	got := map[string]string{}
	for i := 2; i < len(listen); i++ {
		takesValue, ok := cliFlags[listen[i]]
		if !ok {
			t.Fatalf("stripe listen has no flag %q: %s", listen[i], strings.Join(listen, " "))
		}
		if takesValue {
			if i+1 >= len(listen) {
				t.Fatalf("%s without a value", listen[i])
			}
			got[listen[i]] = listen[i+1]
			i++
		}
	}
	if u := got["--forward-to"]; !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.HasSuffix(u, "/stripe/webhook") {
		t.Errorf("--forward-to %q, want the demo's webhook", u)
	}
	if evs := strings.Split(got["--events"], ","); !slices.Equal(evs, billing.HandledTypes) {
		t.Errorf("--events %v, want exactly %v", evs, billing.HandledTypes)
	}
	if !slices.Contains(strings.Split(got["--events"], ","), billing.EventInvoicePaymentPaid) {
		t.Errorf("--events lacks %s, which links basil+ refunds to their invoices", billing.EventInvoicePaymentPaid)
	}
	if !strings.Contains(out, "2026-03-25.dahlia") {
		t.Error("the instructions do not say which API versions vpnbill reads")
	}
}
