package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/vpnbill/vpnbill/internal/assemble"
	"github.com/vpnbill/vpnbill/internal/billing"
	"github.com/vpnbill/vpnbill/internal/console"
	"github.com/vpnbill/vpnbill/internal/envconfig"
	"github.com/vpnbill/vpnbill/internal/ingest"
	"github.com/vpnbill/vpnbill/internal/provisioning"
)

// demoOperator is the name the demo's console login has; its password is
// new each run.
const demoOperator = "demo"

// listen listens on addr for the part named what, or says which flag
// moves it.
func listen(what, flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (is another demo running? try %s 127.0.0.1:0)", what, err, flagName)
	}
	return ln, nil
}

// operatorLogin makes the demo's console user: demoOperator with a random
// password and the role operator. It returns the password, to print, and
// the users as console.ParseUsers reads CONSOLE_USERS.
func operatorLogin() (password string, users map[string]console.User, err error) {
	password = randomText(20)
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", nil, err
	}
	users, err = console.ParseUsers(demoOperator + ":" + string(console.RoleOperator) + ":" + string(hash))
	return password, users, err
}

// newConsole is the operators' console over js, with the operations
// cmd/console gives it (assemble.ConsoleOps). svc is the provisioning
// service of those, for the customer page's password resets.
func newConsole(ctx context.Context, js jetstream.JetStream, cfg envconfig.Ctl, users map[string]console.User, log *zap.Logger) (*console.Console, *provisioning.Service, error) {
	o, svc, err := assemble.ConsoleOps(ctx, js, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c, err := console.New(console.Config{Users: users, SessionKey: key, Grace: &cfg.GracePeriod}, o, log.Named("console"))
	if err != nil {
		return nil, nil, err
	}
	return c, svc, nil
}

// newCheckout is the webhook's checkout links, GET /buy/<plan id>, over
// the Stripe API at apiURL ("": Stripe's) with apiKey. After paying or
// going back, Stripe sends the customer to landing (the customer page,
// which offers a fresh link by email).
func newCheckout(plans *billing.Catalog, apiKey, apiURL, landing string, log *zap.Logger) (*ingest.Checkout, error) {
	return ingest.NewCheckout(ingest.CheckoutConfig{Plans: plans, APIKey: apiKey, APIURL: apiURL, SuccessURL: landing, CancelURL: landing},
		log.Named("checkout"))
}

// webhook serves the webhook's handler of the moment: ingest's endpoint,
// which gains the checkout links once stripe-mock listens (the sample does
// not wait for it).
type webhook struct {
	h atomic.Pointer[ingest.Handler]
}

func (wh *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) { wh.h.Load().ServeHTTP(w, r) }

// newServer is an http.Server for a page of the demo (the console, the
// customer page), with the timeouts cmd/console gives it.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute,
		IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
}
