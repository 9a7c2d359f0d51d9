package wire

import (
	"testing"
)

// FuzzDecodeMessages feeds every JSON message a device can send to the
// hub's strict decoder, and checks a header that decodes.
func FuzzDecodeMessages(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"id":"0123456789abcdef0123456789abcdef","to":["Teddy"],"format":"wav","size":1000,"sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","chunk":512}`,
		`{"id":"0123456789abcdef0123456789abcdef","offset":1024}`,
		`{"id":"0123456789abcdef0123456789abcdef"}`,
		`{"csr":"-----BEGIN CERTIFICATE REQUEST-----"}`,
		`{}`, `[]`, `null`, `{"v":1,"size":-1}`, `{"to":[1,2]}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		if Decode(b, &h) == nil {
			_ = h.Check()
			_ = h.Chunks()
		}
		var fe Fetch
		_ = Decode(b, &fe)
		var p Played
		_ = Decode(b, &p)
		var r Renew
		_ = Decode(b, &r)
		var s Sync
		_ = Decode(b, &s)
		var e EnrollRequest
		_ = Decode(b, &e)
	})
}
