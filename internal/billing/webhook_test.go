package billing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/billing/stripetest"
)

const (
	oldSecret = "whsec_old_0123456789abcdef"
	newSecret = "whsec_new_fedcba9876543210"
)

// clock is the fixed "now" of the Verifier tests: ages are exact seconds.
var clock = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	t.Parallel()
	payload := stripetest.CheckoutCompleted("evt_verify", clock, stripetest.Checkout{
		Subscription: "sub_verify", Email: "ada@example.com", Paid: true, Plan: "std-monthly", Amount: 999,
	})
	tests := []struct {
		name    string
		payload []byte // default payload
		header  string
		want    error
	}{
		{name: "first secret", header: stripetest.Sign(payload, oldSecret, clock)},
		{name: "second secret (rotation)", header: stripetest.Sign(payload, newSecret, clock)},
		{
			name: "both secrets, as Stripe signs during a roll",
			header: stripetest.Sign(payload, "whsec_retired", clock) + "," +
				strings.SplitN(stripetest.Sign(payload, newSecret, clock), ",", 2)[1],
		},
		{name: "299 s old", header: stripetest.Sign(payload, oldSecret, clock.Add(-299*time.Second))},
		{name: "300 s old, the tolerance itself", header: stripetest.Sign(payload, newSecret, clock.Add(-300*time.Second))},
		{name: "301 s old", header: stripetest.Sign(payload, oldSecret, clock.Add(-301*time.Second)), want: ErrTooOld},
		{name: "a day old, second secret", header: stripetest.Sign(payload, newSecret, clock.Add(-24*time.Hour)), want: ErrTooOld},
		{name: "wrong secret", header: stripetest.Sign(payload, "whsec_someone_else", clock), want: ErrBadSignature},
		{name: "wrong secret, 301 s old", header: stripetest.Sign(payload, "whsec_someone_else", clock.Add(-301*time.Second)), want: ErrBadSignature},
		{name: "signature without timestamp", header: "v1=" + strings.Repeat("ab", 32), want: ErrBadSignature},
		{name: "missing header", header: "", want: ErrNotSigned},
		{name: "garbage header", header: "this is not a signature", want: ErrBadSignature},
		{name: "garbage pairs", header: "t=abc,v1=xyz", want: ErrBadSignature},
		{name: "no v1 signature", header: "t=1709294400,v0=" + strings.Repeat("ab", 32), want: ErrBadSignature},
		{
			name:    "tampered payload",
			payload: []byte(strings.Replace(string(payload), `"amount_total":999`, `"amount_total":1`, 1)),
			header:  stripetest.Sign(payload, oldSecret, clock),
			want:    ErrBadSignature,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier([]string{oldSecret, newSecret}, 0)
			if err != nil {
				t.Fatal(err)
			}
			v.now = func() time.Time { return clock }
			p := payload
			if tt.payload != nil {
				if string(tt.payload) == string(payload) {
					t.Fatal("tampering changed nothing")
				}
				p = tt.payload
			}
			if err := v.Verify(p, tt.header); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyWallClock checks the Verifier without a test clock: a payload
// signed now passes, one signed an hour ago is too old.
func TestVerifyWallClock(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier(ParseSecrets(oldSecret+", "+newSecret), 0)
	if err != nil {
		t.Fatal(err)
	}
	payload := stripetest.InvoicePaid("evt_wall", time.Now(), stripetest.Invoice{Subscription: "sub_wall", AmountDue: 500})
	if err := v.Verify(payload, stripetest.Sign(payload, newSecret, time.Now())); err != nil {
		t.Errorf("signed now: %v", err)
	}
	if err := v.Verify(payload, stripetest.Sign(payload, newSecret, time.Now().Add(-time.Hour))); !errors.Is(err, ErrTooOld) {
		t.Errorf("signed an hour ago: %v, want ErrTooOld", err)
	}
}

func TestVerifyCustomTolerance(t *testing.T) {
	t.Parallel()
	v, err := NewVerifier([]string{oldSecret}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return clock }
	payload := []byte(`{"id":"evt_1"}`)
	if err := v.Verify(payload, stripetest.Sign(payload, oldSecret, clock.Add(-59*time.Second))); err != nil {
		t.Errorf("59 s old with 60 s tolerance: %v", err)
	}
	if err := v.Verify(payload, stripetest.Sign(payload, oldSecret, clock.Add(-61*time.Second))); !errors.Is(err, ErrTooOld) {
		t.Errorf("61 s old with 60 s tolerance: %v, want ErrTooOld", err)
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		wantErr string // empty: valid
	}{
		{name: "one", secrets: []string{oldSecret}},
		{name: "two, from the env var", secrets: ParseSecrets(" " + oldSecret + " , " + newSecret + " ")},
		{name: "nil", secrets: nil, wantErr: "no webhook secret"},
		{name: "only blanks", secrets: ParseSecrets(" , ,"), wantErr: "no webhook secret"},
		{name: "an API key, not a webhook secret", secrets: []string{"sk_test_123"}, wantErr: "secret 1 does not start with whsec_"},
		{name: "second without prefix", secrets: []string{oldSecret, "new_secret"}, wantErr: "secret 2 does not start with whsec_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewVerifier(tt.secrets, 0)
			if tt.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v", v, err)
				}
				if v.tolerance != DefaultTolerance {
					t.Errorf("tolerance = %v, want %v", v.tolerance, DefaultTolerance)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewVerifier error = %v, want one saying %q", err, tt.wantErr)
			}
			if v != nil {
				t.Errorf("NewVerifier returned a Verifier with an error")
			}
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
		want    Envelope // checked when valid
		wantErr bool
	}{
		{
			name:    "good",
			payload: `{"id":"evt_1Abc","object":"event","type":"invoice.paid","created":1709294400,"livemode":true,"api_version":"2023-10-16","data":{"object":{}}}`,
			want:    Envelope{ID: "evt_1Abc", Type: "invoice.paid", Created: 1709294400, Livemode: true, APIVersion: "2023-10-16"},
		},
		{name: "not JSON", payload: `<xml>event</xml>`, wantErr: true},
		{name: "empty", payload: ``, wantErr: true},
		{name: "JSON array", payload: `[{"id":"evt_1"}]`, wantErr: true},
		{name: "null", payload: `null`, wantErr: true},
		{name: "missing id", payload: `{"type":"invoice.paid","created":1709294400}`, wantErr: true},
		{name: "id of another object", payload: `{"id":"in_1Abc","type":"invoice.paid","created":1709294400}`, wantErr: true},
		{name: "id with a space", payload: `{"id":"evt_1 2","type":"invoice.paid","created":1709294400}`, wantErr: true},
		{name: "id too long", payload: `{"id":"evt_` + strings.Repeat("x", 300) + `","type":"invoice.paid","created":1709294400}`, wantErr: true},
		{name: "id a number", payload: `{"id":12,"type":"invoice.paid","created":1709294400}`, wantErr: true},
		{name: "missing type", payload: `{"id":"evt_1","created":1709294400}`, wantErr: true},
		{name: "type with wildcard *", payload: `{"id":"evt_1","type":"invoice.*","created":1709294400}`, wantErr: true},
		{name: "type with wildcard >", payload: `{"id":"evt_1","type":"invoice.>","created":1709294400}`, wantErr: true},
		{name: "type with newline", payload: `{"id":"evt_1","type":"invoice.paid\n","created":1709294400}`, wantErr: true},
		{name: "created missing", payload: `{"id":"evt_1","type":"invoice.paid"}`, wantErr: true},
		{name: "created zero", payload: `{"id":"evt_1","type":"invoice.paid","created":0}`, wantErr: true},
		{name: "created negative", payload: `{"id":"evt_1","type":"invoice.paid","created":-5}`, wantErr: true},
		{name: "created a string", payload: `{"id":"evt_1","type":"invoice.paid","created":"1709294400"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEnvelope([]byte(tt.payload))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseEnvelope error = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseEnvelope = %+v, want %+v", got, tt.want)
			}
			if want := time.Unix(tt.want.Created, 0).UTC(); !got.CreatedTime().Equal(want) || got.CreatedTime().Location() != time.UTC {
				t.Errorf("CreatedTime = %v, want %v", got.CreatedTime(), want)
			}
		})
	}
}

// TestParseEnvelopeOfBuilders: every builder's event, in every version, has
// a good envelope naming a version vpnbill reads, and together they are of
// every handled type.
func TestParseEnvelopeOfBuilders(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range stripetest.Versions {
		types := map[string]bool{}
		for _, p := range builderEvents(at, v) {
			env, err := ParseEnvelope(p.payload)
			if err != nil {
				t.Errorf("%s %s: %v", v, p.typ, err)
				continue
			}
			if env.Type != p.typ || env.Created != at.Unix() || env.APIVersion != v || env.Livemode {
				t.Errorf("%s %s: envelope %+v", v, p.typ, env)
			}
			if !Handled(env.Type) || !ReadsVersion(env.APIVersion) {
				t.Errorf("%s %s: not handled or not read", v, env.Type)
			}
			types[env.Type] = true
		}
		if len(types) != len(HandledTypes) {
			t.Errorf("%s: builders make %d of the %d handled types", v, len(types), len(HandledTypes))
		}
	}
}

func TestHandledTypes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, typ := range HandledTypes {
		if seen[typ] {
			t.Errorf("%s listed twice", typ)
		}
		seen[typ] = true
		if !Handled(typ) {
			t.Errorf("Handled(%q) = false", typ)
		}
	}
	for _, typ := range []string{EventInvoicePaymentPaid, EventInvoicePaymentActionRequired, EventSubscriptionTrialWillEnd, EventCustomerUpdated, EventCustomerDeleted, EventDisputeClosed, EventDisputeFundsReinstated, EventChargeRefundUpdated} {
		if !seen[typ] {
			t.Errorf("%s is not handled", typ)
		}
	}
	if len(seen) != 17 {
		t.Errorf("%d handled types, want 17", len(seen))
	}
	for _, typ := range []string{"customer.created", "invoice.created", "checkout.session.expired", "", "invoice.paid "} {
		if Handled(typ) {
			t.Errorf("Handled(%q) = true", typ)
		}
	}
}
