package vpnki_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/vpnbill/vpnbill/internal/providers"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki"
	"github.com/vpnbill/vpnbill/internal/providers/vpnki/vpnkisim"
)

// AddTunnel against the simulator: create a tunnel, hand its credentials to
// the customer, and delete it when the subscription ends.
func ExampleClient_AddTunnel() {
	sim := vpnkisim.New(vpnkisim.Options{Key: "example-key", Address: "msk.vpnki.ru"})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	c, err := vpnki.New(vpnki.Config{URL: srv.URL + "/index.php/en/", Key: "example-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseIdleConnections()
	ctx := context.Background()

	nt, err := c.AddTunnel(ctx)
	switch {
	case errors.Is(err, providers.ErrUncertain):
		fmt.Println("a tunnel may exist: list Tunnels to adopt it")
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	fmt.Println(nt) // the password is not printed
	fmt.Println("password length:", len(nt.Password))

	if err := c.DelTunnel(ctx, nt.Tunnel); err != nil && !errors.Is(err, vpnki.ErrNoSuchTunnel) {
		fmt.Println(err)
	}
	fmt.Println("tunnels left:", len(sim.Tunnels()))

	sim.SetPriority(false)
	_, err = c.AddTunnel(ctx)
	fmt.Println(errors.Is(err, providers.ErrUnauthorized))
	// Output:
	// vpnki tunnel user101 (login user101, address msk.vpnki.ru)
	// password length: 8
	// tunnels left: 0
	// true
}
