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

	"github.com/vpnbill/vpnbill/internal/console"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ops"
	"github.com/vpnbill/vpnbill/internal/provisioning"
	"github.com/vpnbill/vpnbill/internal/version"
	"github.com/vpnbill/vpnbill/internal/worker"
)

// run serves the console until ctx ends. ready, if set, receives the
// address listened on.
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
	nc, err := nats.Connect(cfg.NATSURL, nats.Name("console"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer func() { _ = nc.Drain() }()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	o := &ops.Ops{JS: js, Log: log.Named("ops")}
	if cfg.CanProvision() == nil {
		svc, err := provisioner(ctx, o, cfg.Ctl, log)
		if err != nil {
			return err
		}
		o.Provisioner = svc
	} else {
		log.Warn("console: resend and review resolutions are off: " + cfg.CanProvision().Error())
	}
	c, err := console.New(ccfg, o, log.Named("console"))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		log.Warn("console: listening beyond loopback: put it behind TLS and a firewall", zap.String("addr", ln.Addr().String()))
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute}
	errc := make(chan error, 1)
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
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
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

// provisioner is the provisioning.Service a worker runs, built from the
// same variables (one owner: worker.OperatorService).
func provisioner(ctx context.Context, o *ops.Ops, cfg envconfig.Ctl, log *zap.Logger) (*provisioning.Service, error) {
	return worker.OperatorService(ctx, o.JS, cfg, log)
}
