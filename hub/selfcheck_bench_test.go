package hub_test

import (
	"testing"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
)

// BenchmarkSelfCheck is what one run of the local self-check costs the
// hub (seventeen checks, about twenty TLS handshakes, a scan of the
// database files), beside the baseline of the cheapest request over the
// same control socket ('toyhub status').
func BenchmarkSelfCheck(b *testing.B) {
	th := startHub(b, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	for _, name := range []string{"Teddy Fitzgerald", "Bunny Whiskerton"} {
		th.device(name, "toy")
	}
	b.Run("baseline: status", func(b *testing.B) {
		for b.Loop() {
			if err := call(th.cfg.DataDir, control.Status, control.None{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("self-check", func(b *testing.B) {
		for b.Loop() {
			var res control.AuditResult
			if err := call(th.cfg.DataDir, control.CheckRun, control.AuditArgs{}, &res); err != nil {
				b.Fatal(err)
			}
		}
	})
}
