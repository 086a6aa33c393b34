package envconfig

import (
	"strings"
	"testing"
)

func TestLoadWebhookCheckoutLinks(t *testing.T) {
	t.Setenv("STRIPE_WEBHOOK_SECRET", "whsec_a")
	w, err := LoadWebhook()
	if err != nil || w.Enabled() {
		t.Fatalf("without CHECKOUT_*: %+v, %v; want no checkout links", w.Checkout, err)
	}
	t.Setenv("CHECKOUT_SUCCESS_URL", "https://shop.example/thanks")
	_, err = LoadWebhook()
	for _, want := range []string{"CHECKOUT_CANCEL_URL", "PLANS_FILE", "STRIPE_API_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkout links without %s: %v", want, err)
		}
	}
	t.Setenv("CHECKOUT_CANCEL_URL", "https://shop.example/plans")
	t.Setenv("PLANS_FILE", "plans.yaml")
	t.Setenv("STRIPE_API_KEY", "rk_test_checkout")
	w, err = LoadWebhook()
	if err != nil || !w.Enabled() || w.StripeAPIKey != "rk_test_checkout" || w.PlansFile != "plans.yaml" {
		t.Errorf("checkout links = %+v, %v", w.Checkout, err)
	}
}

func TestLoadWorkerMailBranding(t *testing.T) {
	setWorkerEnv(t)
	t.Setenv("PUREVPN_API_PASSWORD", "pw")
	t.Setenv("MAIL_TEMPLATES_DIR", "/etc/vpnbill/mail")
	t.Setenv("MAIL_BRAND", "Example VPN")
	t.Setenv("MAIL_SUPPORT", "help@example.com")
	t.Setenv("MAIL_LOGO_URL", "https://example.com/logo.png")
	t.Setenv("MAIL_APP_NAME", "true")
	w, err := LoadWorker()
	if err != nil {
		t.Fatal(err)
	}
	want := Mail{TemplatesDir: "/etc/vpnbill/mail", Brand: "Example VPN", Support: "help@example.com",
		LogoURL: "https://example.com/logo.png", AppName: true}
	if w.Mail != want {
		t.Errorf("Mail = %+v, want %+v", w.Mail, want)
	}
}
