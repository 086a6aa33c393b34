package main

import (
	"context"
	"testing"
	"time"

	"github.com/vpnbill/vpnbill/internal/notify/mailcatcher"
)

func TestInbox(t *testing.T) {
	t.Parallel()
	in := newInbox()
	in.expect([]string{"a@example.com", "b@example.com"})
	in.accepted(mailcatcher.Received{To: []string{"someone@else.example"}})
	in.accepted(mailcatcher.Received{To: []string{"a@example.com"}})
	first := time.Now()
	go func() {
		time.Sleep(20 * time.Millisecond)
		in.accepted(mailcatcher.Received{To: []string{"b@example.com"}})
		in.accepted(mailcatcher.Received{To: []string{"a@example.com"}}) // a duplicate keeps the first time
	}()
	got, err := in.wait(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a@example.com"].After(first) || !got["b@example.com"].After(first) {
		t.Errorf("times %v", got)
	}
}

func TestInboxGivesUpWhenNothingComes(t *testing.T) {
	t.Parallel()
	in := newInbox()
	in.expect([]string{"a@example.com", "b@example.com"})
	in.accepted(mailcatcher.Received{To: []string{"a@example.com"}})
	start := time.Now()
	_, err := in.wait(context.Background(), 50*time.Millisecond)
	if err == nil || err.Error() != "1 of 2 emails, and no new one for 50ms" {
		t.Errorf("wait = %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("wait took %s", took)
	}
}
