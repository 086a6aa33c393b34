package harness

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vpnbill/vpnbill/internal/events"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

// WorldOptions configure the parts of a World. The zero value is a World
// of defaults.
type WorldOptions struct {
	// Events sizes the topology declared. Zero: events' defaults.
	Events events.Config
	// PureVPN configures its simulator. Zero: purevpnsim's defaults.
	PureVPN purevpnsim.Options
	// VPNKI configures its simulator. Zero: vpnkisim's defaults.
	VPNKI vpnkisim.Options
	// Mail configures the mail catcher. Zero: a catcher that logs nothing.
	Mail mailcatcher.Options
}

// World is what most tests of the product run on: an embedded JetStream
// server with vpnbill's topology and a connection to it, both providers'
// simulators over HTTP, and an SMTP mail catcher. Everything is shut down
// at the end of the test.
type World struct {
	NATS     *NATSServer
	NC       *nats.Conn // named after the test; the processes under test make their own
	JS       jetstream.JetStream
	Topology *events.Topology

	PureVPN    *purevpnsim.Sim
	PureVPNURL string // for purevpn.Config.URL, PUREVPN_API_URL
	VPNKI      *vpnkisim.Sim
	VPNKIURL   string // for vpnki.Config.URL, VPNKI_API_URL

	Mail *mailcatcher.Catcher // Mail.URL() is an SMTP_URL
}

// NewWorld starts a World configured by o.
func NewWorld(t testing.TB, o WorldOptions) *World {
	t.Helper()
	w := &World{NATS: NATS(t)}
	w.NC, w.JS = Connect(t, w.NATS, t.Name())
	w.Topology = Topology(t, w.JS, o.Events)
	w.PureVPN, w.PureVPNURL = PureVPN(t, o.PureVPN)
	w.VPNKI, w.VPNKIURL = VPNKI(t, o.VPNKI)
	w.Mail = Mail(t, o.Mail)
	return w
}
