package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/ops"
)

// eventsPerPage: the Stripe events a page of /events shows.
const eventsPerPage = 100

// eventList shows STRIPE's newest events (?before=<sequence> pages back),
// each with its outcome (ops.StripeEvents).
func (c *Console) eventList(w http.ResponseWriter, r *http.Request) {
	var before uint64
	if s := strings.TrimSpace(r.FormValue("before")); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			c.fail(w, r, http.StatusBadRequest, fmt.Errorf("before %q: want a sequence of stream STRIPE", s))
			return
		}
		before = n
	}
	page, err := c.ops.StripeEvents(r.Context(), before, eventsPerPage)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	c.render(w, r, http.StatusOK, "events", view{Title: "Stripe events", Nav: "events",
		Data: map[string]any{"Page": page, "Paged": before != 0}})
}

func (c *Console) eventSeq(w http.ResponseWriter, r *http.Request) (ops.StripeEvent, bool) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("%q is not a sequence of stream STRIPE", r.PathValue("seq")))
		return ops.StripeEvent{}, false
	}
	e, err := c.ops.StripeEventAt(r.Context(), seq)
	switch {
	case errors.Is(err, ops.ErrNoEvent):
		c.fail(w, r, http.StatusNotFound, err)
		return e, false
	case err != nil:
		c.fail(w, r, http.StatusInternalServerError, err)
		return e, false
	}
	return e, true
}

func (c *Console) eventShow(w http.ResponseWriter, r *http.Request) {
	e, ok := c.eventSeq(w, r)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "event", view{Title: fmt.Sprintf("Stripe event %d", e.Seq), Nav: "events", Data: e})
}

// eventReplay publishes the event again (ops.ReplayEvent, as `vpnbillctl
// replay` publishes each). The audit names the event, and the account it
// is about when its facts name exactly one (its timeline shows the
// replay), else stripe:<sequence>.
func (c *Console) eventReplay(w http.ResponseWriter, r *http.Request) {
	e, ok := c.eventSeq(w, r)
	if !ok {
		return
	}
	record := fmt.Sprintf("stripe:%d", e.Seq)
	if len(e.Accounts) == 1 {
		record = e.Accounts[0]
	}
	a := events.Audit{Account: record, Status: "event.replay", StripeEvent: e.ID, StripeType: e.Type}
	err := c.auditedAs(r, a, r.PostFormValue("why"), func(ctx context.Context) error {
		_, err := c.ops.ReplayEvent(ctx, e.Seq)
		return err
	})
	if errors.Is(err, ops.ErrNoEvent) {
		c.fail(w, r, http.StatusNotFound, err)
		return
	}
	if c.actionFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/events?done=replayed", http.StatusSeeOther)
}
