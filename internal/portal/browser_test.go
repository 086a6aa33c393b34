package portal_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

// chromium finds the browser, or fails the test: a page untested in a
// browser is not tested. CI installs it (Debian's chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: the customer page is tested in a real browser (apt-get install chromium; .ci/run installs it)")
	return ""
}

// browser is a headless Chromium session of its own (cookies included),
// started as the console's tests start theirs.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("headless", "new"), chromedp.WindowSize(1100, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return &browser{t: t, ctx: ctx}
}

// do runs steps; on failure it saves a screenshot (into VPNBILL_SCREENSHOTS
// if set, else beside the test's temporary files) and fails the test.
func (br *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	br.t.Helper()
	if err := chromedp.Do(br.ctx, steps...); err != nil {
		png, serr := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
		if serr == nil {
			dir := os.Getenv("VPNBILL_SCREENSHOTS")
			if dir == "" {
				dir = br.t.TempDir()
			}
			path := filepath.Join(dir, "failed-"+regexp.MustCompile(`\W+`).ReplaceAllString(br.t.Name()+"-"+what, "-")+".png")
			if werr := os.WriteFile(path, png, 0o644); werr == nil {
				br.t.Logf("screenshot of the failure: %s", path)
			}
		}
		br.t.Fatalf("%s: %v", what, err)
	}
}

func (br *browser) text(sel string) string {
	br.t.Helper()
	s, err := chromedp.Run(br.ctx, chromedp.Text(sel))
	if err != nil {
		br.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (br *browser) html() string {
	br.t.Helper()
	s, err := chromedp.Run(br.ctx, chromedp.OuterHTML("html"))
	if err != nil {
		br.t.Fatal(err)
	}
	return s
}

// shot writes the page as name.png into VPNBILL_SCREENSHOTS, if set: the
// README's screenshots are made so.
func (br *browser) shot(name string) {
	br.t.Helper()
	dir := os.Getenv("VPNBILL_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		br.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		br.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		br.t.Fatal(err)
	}
}

// A customer buys two seats, opens the link of the welcome email the SMTP
// listener received, sees the plan, the status and both seats' usernames,
// resets the first seat's password and sees the new one, which the PureVPN
// simulator holds and the credentials_reset email carries.
func TestCustomerInTheBrowser(t *testing.T) {
	t.Parallel()
	b := setup(t, options{stripe: true})
	const email = "ann@example.com"
	b.buy(t, "sub_ann", email, stdPlan, 2)
	welcomes := b.mails(t, email, 2)
	accounts := b.w.PureVPN.Accounts()
	if len(accounts) != 2 {
		t.Fatalf("accounts at PureVPN: %d, want 2 (two seats)", len(accounts))
	}
	first := welcomes[slices.IndexFunc(welcomes, func(m mailcatcher.Received) bool { return strings.HasPrefix(m.MessageID, "<welcome.1.sub_ann@") })]
	link := linkIn(t, first)

	br := newBrowser(t)
	br.do("open the link of the welcome email", chromedp.Navigate(link), chromedp.WaitVisible("#plan"))
	loc, err := chromedp.Run(br.ctx, chromedp.Location())
	if err != nil || loc != b.page {
		t.Errorf("the page is at %q (%v), want the clean URL %q", loc, err, b.page)
	}
	if got := br.text("#plan"); got != "Standard VPN, monthly" {
		t.Errorf("plan %q", got)
	}
	if got := br.text("#status"); got != "Active" {
		t.Errorf("status %q", got)
	}
	if br.text("#paid-through") == "" {
		t.Error("no paid-through date")
	}
	shown := []string{br.text("#username-1"), br.text("#username-2")}
	for _, a := range accounts {
		if !slices.Contains(shown, a.Username) {
			t.Errorf("the page does not show seat account %s (shows %v)", a.Username, shown)
		}
	}
	page := br.html()
	for _, a := range accounts {
		if strings.Contains(page, a.Password) {
			t.Error("the page shows a password")
		}
	}
	if !strings.Contains(page, "How to connect") || !strings.Contains(page, "billing-submit") {
		t.Error("the page lacks how to connect or Manage billing")
	}
	br.shot("portal")

	user := br.text("#username-1")
	br.do("reset the first seat's password", chromedp.Click("#reset-1"), chromedp.WaitVisible("#new-password"))
	password := br.text("#new-password")
	if got := br.text("#new-username"); got != user {
		t.Errorf("the reveal names %q, want %q", got, user)
	}
	held := ""
	for _, a := range b.w.PureVPN.Accounts() {
		if a.Username == user {
			held = a.Password
		}
	}
	if password == "" || held != password {
		t.Errorf("the page shows password %q, the PureVPN simulator holds %q for %s", password, held, user)
	}
	br.shot("portal-reset")
	mails := b.mails(t, email, 3)
	reset := mails[len(mails)-1]
	if !strings.HasPrefix(reset.MessageID, "<credentials_reset.") || !strings.Contains(reset.Text, password) || !strings.Contains(reset.Text, user) {
		t.Errorf("the last email (%s) must be the credentials_reset with the new password", reset.MessageID)
	}
	if acts := b.customerActions(t, "sub_ann"); len(acts) != 1 || acts[0].Status != "password.reset" || acts[0].Reason != "customer" {
		t.Errorf("customer actions audited: %+v, want one password.reset by the customer", acts)
	}

	// Shown once: the page again, fetched anew, does not show it.
	br.do("reload the page", chromedp.Navigate(b.page), chromedp.WaitVisible("#plan"))
	if strings.Contains(br.html(), password) {
		t.Error("the page shows the new password again")
	}
	br.do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#ask"))
	if strings.Contains(br.html(), "Standard VPN") {
		t.Error("signed out, the page still shows the record")
	}
}
