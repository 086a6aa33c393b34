package envconfig

import (
	"strings"
	"testing"
	"time"
)

// Every duration setting follows one rule: unset or empty means the
// default; a value that is set means exactly that value, zero included
// where zero is a choice; a value that means nothing is an error.
func TestDurationsZeroMeansZero(t *testing.T) {
	base := []string{"PUREVPN_API_URL=https://api.example/", "PUREVPN_API_USER=u", "PUREVPN_API_PASSWORD=p"}
	for _, tc := range []struct {
		env     []string
		want    func(c Ctl) bool
		wantErr string
	}{
		{nil, func(c Ctl) bool {
			return c.GracePeriod == 72*time.Hour && c.DeleteAfter == 720*time.Hour &&
				c.ProviderTimeout == 15*time.Second && c.ProviderRetryFor == 30*time.Second
		}, ""},
		{[]string{"GRACE_PERIOD=", "DELETE_AFTER="}, func(c Ctl) bool { return c.GracePeriod == 72*time.Hour && c.DeleteAfter == 720*time.Hour }, ""},
		{[]string{"GRACE_PERIOD=0s"}, func(c Ctl) bool { return c.GracePeriod == 0 }, ""},
		{[]string{"DELETE_AFTER=0"}, func(c Ctl) bool { return c.DeleteAfter == 0 }, ""},
		{[]string{"PROVIDER_RETRY_FOR=0s"}, func(c Ctl) bool { return c.ProviderRetryFor == 0 }, ""},
		{[]string{"PROVIDER_TIMEOUT=0s"}, nil, "PROVIDER_TIMEOUT must be positive"},
		{[]string{"GRACE_PERIOD=-1h"}, nil, "GRACE_PERIOD must not be negative"},
		{[]string{"PROVIDER_RETRY_FOR=-1s"}, nil, "PROVIDER_RETRY_FOR must not be negative"},
	} {
		t.Run(strings.Join(tc.env, ","), func(t *testing.T) {
			c, err := LoadCtlFrom(append(append([]string(nil), base...), tc.env...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Errorf("got grace %s, delete after %s, timeout %s, retry for %s", c.GracePeriod, c.DeleteAfter, c.ProviderTimeout, c.ProviderRetryFor)
			}
			pc, _, err := c.ClientConfigs()
			if err != nil {
				t.Fatal(err)
			}
			if pc.RetryFor == nil || *pc.RetryFor != c.ProviderRetryFor {
				t.Errorf("PureVPN client RetryFor %v, want exactly %s", pc.RetryFor, c.ProviderRetryFor)
			}
		})
	}
}
