package harness

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

// Serve serves h over HTTP on loopback until the end of the test and
// returns the server's URL. A handler may be served more than once, each
// server with its own connections.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// PureVPN starts the PureVPN reseller API simulator with o and serves it.
// url is the API's URL, for purevpn.Config.URL and PUREVPN_API_URL.
func PureVPN(t testing.TB, o purevpnsim.Options) (sim *purevpnsim.Sim, url string) {
	t.Helper()
	sim = purevpnsim.New(o)
	return sim, Serve(t, sim)
}

// VPNKI starts the VPNKI API simulator with o and serves it. url is the
// API's endpoint, the server's /index.php, for vpnki.Config.URL and
// VPNKI_API_URL.
func VPNKI(t testing.TB, o vpnkisim.Options) (sim *vpnkisim.Sim, url string) {
	t.Helper()
	sim = vpnkisim.New(o)
	return sim, Serve(t, sim) + "/index.php"
}
