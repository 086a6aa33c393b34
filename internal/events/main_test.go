package events_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test shuts down what it starts: the embedded server, its client
// connections and the consume loops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
