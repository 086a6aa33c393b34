package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/vpnbill/vpnbill/internal/notify"
	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

// Render the welcome email of a VPNKI tunnel and deliver it; a mailcatcher stands in for the
// SMTP server.
func Example() {
	catcher := mailcatcher.New(mailcatcher.Options{})
	if err := catcher.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	defer catcher.Close()

	mailer, err := notify.New(notify.Config{URL: catcher.URL(), From: "Example VPN <billing@example.com>"}, nil)
	if err != nil {
		panic(err)
	}
	msg, err := notify.Render(notify.Welcome, notify.Data{
		To:          "ann@example.com",
		PlanName:    "Tunnel, monthly",
		Username:    "tunnel_4411",
		Password:    "kiPass77",
		Server:      "msk.vpnki.ru",
		Protocols:   "PPTP, L2TP/IPsec or OpenVPN",
		PaidThrough: time.Date(2031, time.March, 14, 0, 0, 0, 0, time.UTC),
		MessageID:   "<welcome.sub_123.1@vpnbill>",
	})
	if err != nil {
		panic(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mailer.Send(ctx, msg); err != nil {
		fmt.Println("send failed; permanent:", notify.IsPermanent(err))
		return
	}
	got, err := catcher.WaitFor(ctx, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(got[0].MessageID)
	fmt.Println(got[0].Subject)
	fmt.Print(got[0].Text)
	// Output:
	// <welcome.sub_123.1@vpnbill>
	// Your VPN account is ready
	// Hello,
	//
	// Thank you for subscribing to Tunnel, monthly. Your VPN account is ready.
	//
	//   Username: tunnel_4411
	//   Password: kiPass77
	//   Server:   msk.vpnki.ru
	//
	// How to connect:
	// Set up a VPN connection on your device to the server address above. You can
	// use PPTP, L2TP/IPsec or OpenVPN; sign in with the username and password above.
	//
	// Keep these credentials private.
	//
	// Your subscription is paid through 14 March 2031.
	//
	// --
	// This message was sent automatically about your VPN subscription.
	// If you need help, reply to this email.
}
