package purevpn_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/vpnbill/vpnbill/internal/providers/purevpn"
	"github.com/vpnbill/vpnbill/internal/providers/purevpn/purevpnsim"
)

// Create a VPN account at the simulator, then read its status.
func ExampleClient_Create() {
	now := func() time.Time { return time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC) }
	sim := purevpnsim.New(purevpnsim.Options{User: "reseller", Password: "api-secret", Now: now})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	client, err := purevpn.New(purevpn.Config{
		URL:      srv.URL,
		User:     "reseller",
		Password: "api-secret", // plain: the client sends its md5
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.CloseIdleConnections()

	ctx := context.Background()
	acct, err := client.Create(ctx, purevpn.Standard, purevpn.Period30)
	if err != nil {
		fmt.Println(err) // a *providers.Error: match its class with errors.Is
		return
	}
	fmt.Println("username:", acct.Username, "password length:", len(acct.Password))

	st, err := client.Status(ctx, acct.Username)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("enabled:", st.Enabled, "expires:", st.Expiry.Format(time.DateOnly))
	fmt.Println("accounts at the provider:", len(sim.Accounts()))
	// Output:
	// username: pvr100001 password length: 8
	// enabled: true expires: 2025-07-01
	// accounts at the provider: 1
}
