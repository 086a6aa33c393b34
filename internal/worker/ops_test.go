package worker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// inReview buys a PureVPN plan whose create answer is lost: the record goes
// to review with one account committed at the simulator.
func inReview(t *testing.T, w *world) *run {
	t.Helper()
	t0 := time.Now().UTC()
	r := w.newRun(t, t0)
	r.pure.DropNext(1)
	for _, f := range purchase(r, t0, "std") {
		if err := r.svc.Apply(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	rec, _, err := w.store.Get(context.Background(), r.sub)
	if err != nil || rec.Review == nil {
		t.Fatalf("record not in review: %+v, %v", rec, err)
	}
	return r
}

func (r *run) emails() []string {
	var out []string
	for _, m := range r.w.mail.Messages() {
		if m.To[0] == r.email {
			out = append(out, m.Text)
		}
	}
	return out
}

func TestReviewResolutions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()

	t.Run("adopt", func(t *testing.T) {
		t.Parallel()
		r := inReview(t, w)
		orphan := r.pure.Accounts()[0]
		if err := r.svc.ResolveReview(ctx, r.sub, provisioning.ReviewAdopt, orphan.Username); err != nil {
			t.Fatal(err)
		}
		now := r.pure.Accounts()
		if len(now) != 1 || r.pure.Calls("create") != 1 {
			t.Fatalf("adoption must keep the one account: %d accounts, %d creates", len(now), r.pure.Calls("create"))
		}
		mails := r.emails()
		if len(mails) != 1 || !strings.Contains(mails[0], orphan.Username) || !strings.Contains(mails[0], now[0].Password) {
			t.Errorf("the customer must get the adopted username with its new password (%d emails)", len(mails))
		}
		if now[0].Password == orphan.Password {
			t.Error("the adopted account's unknown password must be replaced")
		}
	})

	t.Run("retry", func(t *testing.T) {
		t.Parallel()
		r := inReview(t, w)
		// Retry is the operator's word that no account exists: it creates again.
		if err := r.svc.ResolveReview(ctx, r.sub, provisioning.ReviewRetry, ""); err != nil {
			t.Fatal(err)
		}
		if r.pure.Calls("create") != 2 {
			t.Errorf("retry must create again: %d creates", r.pure.Calls("create"))
		}
		if len(r.emails()) != 1 {
			t.Errorf("emails = %d, want the welcome", len(r.emails()))
		}
	})

	t.Run("give up", func(t *testing.T) {
		t.Parallel()
		r := inReview(t, w)
		if err := r.svc.ResolveReview(ctx, r.sub, provisioning.ReviewGiveUp, ""); err != nil {
			t.Fatal(err)
		}
		rec, _, err := w.store.Get(ctx, r.sub)
		if err != nil {
			t.Fatal(err)
		}
		if !rec.RefundDue || rec.Review != nil || rec.Desired.Status != provisioning.StatusCanceled {
			t.Errorf("give-up must flag a refund and end the order: refund %v review %v status %s", rec.RefundDue, rec.Review, rec.Desired.Status)
		}
		if r.pure.Calls("create") != 1 {
			t.Error("give-up must not create")
		}
		if err := r.svc.ResolveReview(ctx, r.sub, provisioning.ReviewRetry, ""); err == nil {
			t.Error("a record no longer in review cannot be resolved again")
		}
	})
}

func TestResetCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	for _, tc := range []struct{ provider, plan string }{{"purevpn", "std"}, {"vpnki", "tun"}} {
		t.Run(tc.provider, func(t *testing.T) {
			t.Parallel()
			t0 := time.Now().UTC()
			r := w.newRun(t, t0)
			r.play(t, []phase{{t0, purchase(r, t0, tc.plan)}}, nil)
			if err := r.svc.ResetCredentials(ctx, r.sub); err != nil {
				t.Fatal(err)
			}
			mails := r.emails()
			if len(mails) != 2 {
				t.Fatalf("emails = %d, want welcome and new credentials", len(mails))
			}
			if tc.provider == "purevpn" {
				acct := r.pure.Accounts()[0]
				if len(r.pure.Accounts()) != 1 || !strings.Contains(mails[1], acct.Password) || strings.Contains(mails[0], acct.Password) {
					t.Error("the second email must carry the account's new password")
				}
				return
			}
			tunnels := r.tunnels.Tunnels()
			if len(tunnels) != 1 || r.tunnels.Calls("add_tunnel") != 2 || !strings.Contains(mails[1], tunnels[0].Password) {
				t.Errorf("VPNKI: the tunnel must be replaced and its credentials sent (%d tunnels, %d creates)", len(tunnels), r.tunnels.Calls("add_tunnel"))
			}
		})
	}
}
