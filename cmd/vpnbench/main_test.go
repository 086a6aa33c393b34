package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test shuts down what it starts: servers, connections, clients.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
