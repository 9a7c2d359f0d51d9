package audit

import (
	"strings"
	"testing"
)

// FuzzBSON: a MongoDB reply from anyone on the network is parsed or
// refused, never a crash.
func FuzzBSON(f *testing.F) {
	f.Add(bsonDoc(bsonElem{"ok", int32(1)}, bsonElem{"databases", "x"}))
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add([]byte{12, 0, 0, 0, 3, 'a', 0, 5, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = bsonFields(b) })
}

// FuzzProcNet: the kernel's socket tables are parsed or refused.
func FuzzProcNet(f *testing.F) {
	f.Add("  sl  local_address rem_address   st\n   0: 0100007F:22B3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1\n")
	f.Add("header\n x 00000000000000000000000001000000:0050 0:0 0A a b c d e 99\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = parseProcNet(strings.NewReader(s)) })
}
