package events_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/events"
)

func TestAuditRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	paris := time.FixedZone("CET", 3600)
	in := events.Audit{
		ID:              "applied:evt_1",
		Kind:            events.AuditFactApplied,
		Time:            time.Date(2024, 5, 1, 14, 30, 0, 123456789, paris),
		Account:         "sub_1",
		StripeEvent:     "evt_1",
		StripeType:      "invoice.paid",
		StripeCreated:   time.Date(2024, 5, 1, 12, 29, 58, 0, time.UTC),
		Customer:        "cus_1",
		Email:           "ann@example.com",
		Subscription:    "sub_1",
		CheckoutSession: "cs_1",
		Invoice:         "in_1",
		Charge:          "ch_1",
		Amount:          999,
		Currency:        "eur",
		Livemode:        true,
		Plan:            "std-monthly",
		Provider:        "purevpn",
		Username:        "vpn123",
		PeriodStart:     time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		PeriodEnd:       time.Date(2024, 5, 31, 0, 0, 0, 0, time.UTC),
		Status:          "active",
		MessageID:       "<m1@example.com>",
		EmailKind:       "welcome",
		Reason:          "renewed",
	}
	if err := events.PublishAudit(ctx, b.js, in); err != nil {
		t.Fatalf("PublishAudit: %v", err)
	}
	m, err := b.topo.Audit.GetLastMsgForSubject(ctx, events.AuditSubject(events.AuditFactApplied))
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	if m.Subject != "audit.fact.applied" {
		t.Errorf("subject %q, want audit.fact.applied", m.Subject)
	}
	got, err := events.DecodeAudit(m.Data)
	if err != nil {
		t.Fatalf("DecodeAudit(%s): %v", m.Data, err)
	}

	want := in
	want.V = 1
	want.Time = in.Time.UTC()
	if got.Time.Location() != time.UTC {
		t.Errorf("time %s is not UTC", got.Time)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
}

func TestAuditDefaultsTimeAndOmitsEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	before := time.Now()
	if err := events.PublishAudit(ctx, b.js, events.Audit{ID: "del:sub_2", Kind: events.AuditDeleted, Account: "sub_2"}); err != nil {
		t.Fatalf("PublishAudit: %v", err)
	}
	m, err := b.topo.Audit.GetLastMsgForSubject(ctx, "audit.account.deleted")
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(m.Data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"stripe_created", "period_start", "period_end", "amount", "livemode", "email"} {
		if _, ok := fields[k]; ok {
			t.Errorf("empty field %q is stored: %s", k, m.Data)
		}
	}
	got, err := events.DecodeAudit(m.Data)
	if err != nil {
		t.Fatalf("DecodeAudit: %v", err)
	}
	if got.Time.Before(before.Truncate(time.Second)) || got.Time.Location() != time.UTC {
		t.Errorf("time %s, want now in UTC", got.Time)
	}
}

func TestAuditDeduplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	ctx := testContext(t)
	a := events.Audit{ID: "created:sub_3:1", Kind: events.AuditAccountCreated, Account: "sub_3", Provider: "vpnki"}
	for range 2 {
		if err := events.PublishAudit(ctx, b.js, a); err != nil {
			t.Fatalf("PublishAudit: %v", err)
		}
	}
	other := a
	other.ID = "created:sub_4:1"
	other.Account = "sub_4"
	if err := events.PublishAudit(ctx, b.js, other); err != nil {
		t.Fatalf("PublishAudit: %v", err)
	}
	info, err := b.topo.Audit.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("AUDIT holds %d messages, want 2: the same id is stored once", info.State.Msgs)
	}
}

func TestAuditPublishRequiresID(t *testing.T) {
	t.Parallel()
	b := setup(t, events.Config{})
	if err := events.PublishAudit(testContext(t), b.js, events.Audit{Kind: events.AuditEmailSent}); err == nil {
		t.Error("PublishAudit without an id succeeded")
	}
}

func TestDecodeAudit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		data    string
		wantErr string // "" means it decodes
	}{
		{"version 1", `{"v":1,"id":"x","kind":"email.sent","time":"2024-05-01T12:00:00Z","account":"sub_1"}`, ""},
		{"unknown fields are ignored", `{"v":1,"id":"x","kind":"email.sent","time":"2024-05-01T12:00:00Z","account":"sub_1","new":true}`, ""},
		{"version 2", `{"v":2,"id":"x","kind":"email.sent","time":"2024-05-01T12:00:00Z","account":"sub_1"}`, "version 2"},
		{"no version", `{"id":"x","kind":"email.sent"}`, "version 0"},
		{"not JSON", `v=1`, "decode audit"},
		{"empty", ``, "decode audit"},
	}
	for _, tt := range tests {
		a, err := events.DecodeAudit([]byte(tt.data))
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: DecodeAudit: %v", tt.name, err)
		case tt.wantErr == "" && (a.V != 1 || a.ID != "x" || a.Kind != events.AuditEmailSent || a.Account != "sub_1"):
			t.Errorf("%s: DecodeAudit = %+v", tt.name, a)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: DecodeAudit error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}
