package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/vpnbill/vpnbill/internal/assemble"
	"github.com/vpnbill/vpnbill/internal/console"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/version"
)

// run serves the console until ctx ends, and the customer's page on
// PORTAL_ADDR if set. ready, if set, receives the console's address, then
// the customer page's if it is served.
func run(ctx context.Context, environ []string, ready chan<- string) error {
	cfg, err := envconfig.LoadConsoleFrom(environ)
	if err != nil {
		return err
	}
	log, err := cfg.Logger()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ccfg, err := consoleConfig(cfg)
	if err != nil {
		return err
	}
	if err := checkAddr(cfg.AdminAddr, cfg.WebhookAddr); err != nil {
		return err
	}
	if err := checkPortalAddr(cfg.PortalAddr, cfg.AdminAddr, cfg.WebhookAddr); err != nil {
		return err
	}
	if cfg.PortalAddr != "" {
		if err := cfg.CanProvision(); err != nil {
			return fmt.Errorf("PORTAL_ADDR: the customer page resets passwords and emails links: %w", err)
		}
	}
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("console"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer func() { _ = nc.Drain() }()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	// The console's operations: resend and the review resolutions if the
	// worker's variables are set, and the providers for the reconcile page
	// and the account page's live state.
	o, svc, err := assemble.ConsoleOps(ctx, js, cfg.Ctl, log)
	if err != nil {
		return err
	}
	ccfg.Grace = &cfg.GracePeriod
	c, err := console.New(ccfg, o, log.Named("console"))
	if err != nil {
		return err
	}
	defer c.Close() // a reconcile running in the background ends first
	var pg *assemble.Page
	if cfg.PortalAddr != "" {
		// The customer page, with its own ops: the console's routes and
		// state are not its.
		if pg, err = assemble.CustomerPage(js, cfg.Ctl, cfg.PortalClientIPHeader, svc, log); err != nil {
			return err
		}
		defer pg.Close() // after its server stopped: its emails sent, then the mailer closed
	}
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		log.Warn("console: listening beyond loopback: put it behind TLS and a firewall", zap.String("addr", ln.Addr().String()))
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute}
	errc := make(chan error, 2)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("console: serving", zap.String("addr", ln.Addr().String()), zap.String("version", version.Get().String()))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	var psrv *http.Server
	if pg != nil {
		// Its own listener and server: the public page's routes only,
		// never the console's, and short timeouts for the open internet.
		pln, err := net.Listen("tcp", cfg.PortalAddr)
		if err != nil {
			return errors.Join(fmt.Errorf("PORTAL_ADDR: %w", err), srv.Close())
		}
		psrv = &http.Server{Handler: pg, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
		go func() { errc <- psrv.Serve(pln) }()
		log.Info("console: serving the customer page", zap.String("addr", pln.Addr().String()), zap.String("url", cfg.PortalURL))
		if ready != nil {
			ready <- pln.Addr().String()
		}
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{serveErr}
	for _, s := range []*http.Server{srv, psrv} {
		if s == nil {
			continue
		}
		if err := s.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		errs[0] = nil
	}
	return errors.Join(errs...)
}

// checkPortalAddr refuses to serve the customer page on the console's
// port (the page is public, the console is not) or on the webhook's.
func checkPortalAddr(portalAddr, admin, webhook string) error {
	if portalAddr == "" {
		return nil
	}
	_, pp, err := net.SplitHostPort(portalAddr)
	if err != nil {
		return fmt.Errorf("PORTAL_ADDR %q: %w", portalAddr, err)
	}
	for _, other := range []struct{ name, addr string }{{"ADMIN_ADDR", admin}, {"WEBHOOK_ADDR", webhook}} {
		if _, op, err := net.SplitHostPort(other.addr); err == nil && op == pp && pp != "0" {
			return fmt.Errorf("PORTAL_ADDR %s uses the port of %s %s: the customer page has a listener of its own", portalAddr, other.name, other.addr)
		}
	}
	return nil
}

// consoleConfig turns the variables into console.Config.
func consoleConfig(cfg envconfig.Console) (console.Config, error) {
	key, err := base64.StdEncoding.DecodeString(cfg.SessionKey)
	if err != nil || len(key) != 32 {
		return console.Config{}, errors.New("CONSOLE_SESSION_KEY: want base64 of 32 bytes (openssl rand -base64 32)")
	}
	users, err := console.ParseUsers(cfg.Users)
	if err != nil {
		return console.Config{}, fmt.Errorf("CONSOLE_USERS: %w", err)
	}
	c := console.Config{Users: users, SessionKey: key, ProxyUserHeader: cfg.ProxyUserHeader, SecureCookie: cfg.SecureCookie}
	if cfg.ProxyUserHeader != "" {
		if c.ProxyRole, err = console.ParseRole(cfg.ProxyRole); err != nil {
			return console.Config{}, fmt.Errorf("CONSOLE_PROXY_ROLE: %w", err)
		}
	}
	return c, nil
}

// checkAddr refuses to serve the console on the webhook's port: that one
// is public.
func checkAddr(admin, webhook string) error {
	_, ap, err := net.SplitHostPort(admin)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR %q: %w", admin, err)
	}
	_, wp, err := net.SplitHostPort(webhook)
	if err != nil {
		return fmt.Errorf("WEBHOOK_ADDR %q: %w", webhook, err)
	}
	if ap == wp && ap != "0" {
		return fmt.Errorf("ADMIN_ADDR %s uses the webhook's port (WEBHOOK_ADDR %s): the console must never be on the public webhook port", admin, webhook)
	}
	return nil
}
