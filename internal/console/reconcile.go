package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/ops"
)

// The reconcile page runs ops.Reconcile, the same run as `vpnbillctl
// reconcile` (and, for the safe fixes, `vpnbillctl reconcile --fix`), as
// one background job per console process: at most one at a time, started
// by an operator, under the console's lifetime (Close stops it). While it
// runs the page refreshes itself every second (a meta refresh: no
// script) and shows how far it is. Its result is the run ops.Reconcile
// records in AUDIT, which the page, and the overview, read back: the last
// run recorded, whoever ran it.

// reconcileRefresh: how often the page refreshes while a run is going.
const reconcileRefresh = 1 // second

// reconcileJob is the console's background reconcile run.
type reconcileJob struct {
	mu       sync.Mutex
	closed   bool // the console is closing: no new run
	running  bool
	fix      bool
	by       string
	started  time.Time
	finished time.Time
	progress ops.ReconcileProgress
	err      error // the last run's, if it failed or was not recorded
}

// reconcileState is a copy of the job, for the page.
type reconcileState struct {
	Running  bool
	Fix      bool
	By       string
	Started  time.Time
	Finished time.Time
	Progress ops.ReconcileProgress
	Err      string
}

func (j *reconcileJob) state() reconcileState {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := reconcileState{Running: j.running, Fix: j.fix, By: j.by, Started: j.started, Finished: j.finished, Progress: j.progress}
	if j.err != nil {
		s.Err = j.err.Error()
	}
	return s
}

var (
	errReconcileRunning = errors.New("a reconcile is running already: wait for it to end, then look at its result")
	errClosing          = errors.New("the console is stopping")
)

// startReconcile starts the background run for user, with the safe fixes
// if fix. It fails at once if a run is going or the configuration lacks
// what the run needs.
func (c *Console) startReconcile(user string, fix bool) error {
	opts := ops.ReconcileOptions{Providers: c.ops.Providers, Fix: fix, Grace: c.cfg.Grace, By: "console:" + user}
	if len(opts.Providers) == 0 {
		return fmt.Errorf("reconcile: the console has no provider: they are %w (PUREVPN_API_URL…, VPNKI_API_URL…)", ops.ErrNotConfigured)
	}
	if fix {
		if c.ops.Provisioner == nil {
			return fmt.Errorf("the safe fixes take the worker's steps: provisioning is %w (PLANS_FILE, SMTP_URL, MAIL_FROM, CREDENTIALS_KEY)", ops.ErrNotConfigured)
		}
		opts.Refresher = c.ops.Provisioner
	}
	j := c.recon
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.closed:
		return errClosing
	case j.running:
		return errReconcileRunning
	}
	j.running, j.fix, j.by, j.started, j.finished, j.progress, j.err = true, fix, user, c.cfg.Now(), time.Time{}, ops.ReconcileProgress{}, nil
	opts.Progress = func(p ops.ReconcileProgress) {
		j.mu.Lock()
		j.progress = p
		j.mu.Unlock()
	}
	c.jobs.Add(1) // under j.mu: Close cannot be waiting yet
	go func() {
		defer c.jobs.Done()
		rep, err := c.ops.Reconcile(c.ctx, opts)
		if err != nil {
			c.log.Error("console: reconcile", zap.String("user", user), zap.Bool("fix", fix), zap.Error(err))
		} else {
			c.log.Info("console: reconcile done", zap.String("user", user), zap.Bool("fix", fix), zap.Int("records", rep.Records),
				zap.Int("drift", len(rep.Drift)), zap.Int("unfixed", rep.Unfixed()))
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		j.running, j.finished, j.err = false, c.cfg.Now(), err
	}()
	return nil
}

// closeJobs refuses new runs from now on.
func (j *reconcileJob) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
}

func (c *Console) reconcilePage(w http.ResponseWriter, r *http.Request) {
	st := c.recon.state()
	last, ok, err := c.ops.LastReconcile(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	data := map[string]any{"State": st, "CanRun": len(c.ops.Providers) > 0, "CanFix": c.ops.Provisioner != nil}
	if ok {
		data["Last"] = last
	}
	v := view{Title: "Reconcile", Nav: "reconcile", Data: data}
	if st.Running {
		v.Refresh = reconcileRefresh
	}
	c.render(w, r, http.StatusOK, "reconcile", v)
}

func (c *Console) reconcileStart(w http.ResponseWriter, r *http.Request) {
	c.reconcileAction(w, r, "reconcile", false, "reconcile-started")
}

func (c *Console) reconcileFix(w http.ResponseWriter, r *http.Request) {
	c.reconcileAction(w, r, "reconcile.fix", true, "fix-started")
}

func (c *Console) reconcileAction(w http.ResponseWriter, r *http.Request, action string, fix bool, doneKey string) {
	user := identityOf(r).Name
	err := c.audited(r, action, "reconcile", r.PostFormValue("why"), func(context.Context) error {
		return c.startReconcile(user, fix)
	})
	switch {
	case errors.Is(err, errReconcileRunning), errors.Is(err, errClosing):
		c.fail(w, r, http.StatusConflict, err)
		return
	case c.actionFailed(w, r, err):
		return
	}
	http.Redirect(w, r, "/reconcile?done="+doneKey, http.StatusSeeOther)
}
