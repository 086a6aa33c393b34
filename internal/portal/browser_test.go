package portal_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vpnbill/vpnbill/internal/harness"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

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

	br := harness.NewBrowser(t, harness.BrowserOptions{Width: 1100})
	br.Do("open the link of the welcome email", chromedp.Navigate(link), chromedp.WaitVisible("#plan"))
	loc, err := chromedp.Run(br.Ctx, chromedp.Location())
	if err != nil || loc != b.page {
		t.Errorf("the page is at %q (%v), want the clean URL %q", loc, err, b.page)
	}
	if got := br.Text("#plan"); got != "Standard VPN, monthly" {
		t.Errorf("plan %q", got)
	}
	if got := br.Text("#status"); got != "Active" {
		t.Errorf("status %q", got)
	}
	if br.Text("#paid-through") == "" {
		t.Error("no paid-through date")
	}
	shown := []string{br.Text("#username-1"), br.Text("#username-2")}
	for _, a := range accounts {
		if !slices.Contains(shown, a.Username) {
			t.Errorf("the page does not show seat account %s (shows %v)", a.Username, shown)
		}
	}
	page := br.HTML()
	for _, a := range accounts {
		if strings.Contains(page, a.Password) {
			t.Error("the page shows a password")
		}
	}
	if !strings.Contains(page, "How to connect") || !strings.Contains(page, "billing-submit") {
		t.Error("the page lacks how to connect or Manage billing")
	}
	br.Shot("portal")

	user := br.Text("#username-1")
	br.Do("reset the first seat's password", chromedp.Click("#reset-1"), chromedp.WaitVisible("#new-password"))
	password := br.Text("#new-password")
	if got := br.Text("#new-username"); got != user {
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
	br.Shot("portal-reset")
	mails := b.mails(t, email, 3)
	reset := mails[len(mails)-1]
	if !strings.HasPrefix(reset.MessageID, "<credentials_reset.") || !strings.Contains(reset.Text, password) || !strings.Contains(reset.Text, user) {
		t.Errorf("the last email (%s) must be the credentials_reset with the new password", reset.MessageID)
	}
	if acts := b.customerActions(t, "sub_ann"); len(acts) != 1 || acts[0].Status != "password.reset" || acts[0].Reason != "customer" {
		t.Errorf("customer actions audited: %+v, want one password.reset by the customer", acts)
	}

	// Shown once: the page again, fetched anew, does not show it.
	br.Do("reload the page", chromedp.Navigate(b.page), chromedp.WaitVisible("#plan"))
	if strings.Contains(br.HTML(), password) {
		t.Error("the page shows the new password again")
	}
	br.Do("sign out", chromedp.Click("#signout"), chromedp.WaitVisible("#ask"))
	if strings.Contains(br.HTML(), "Standard VPN") {
		t.Error("signed out, the page still shows the record")
	}
}
