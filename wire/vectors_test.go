package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestVectors runs the codecs that the hub and the devices share over
// docs/protocol/vectors: every valid example decodes and encodes back to
// the same value; every invalid one gets the verdict the file states (the
// code the hub answers it with).
func TestVectors(t *testing.T) {
	dir := "../docs/protocol/vectors"
	raw, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct{ File, Kind, Verdict string }
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	types := map[string]func() any{
		"header": func() any { return &Header{} }, "fetch": func() any { return &Fetch{} }, "played": func() any { return &Played{} },
		"cancel": func() any { return &Cancel{} }, "sync": func() any { return &Sync{} }, "renew": func() any { return &Renew{} },
		"ack": func() any { return &Ack{} }, "notify": func() any { return &Notify{} }, "status": func() any { return &Status{} },
		"limits": func() any { return &Limits{} }, "certificate": func() any { return &Certificate{} },
		"heard": func() any { return &Heard{} },
	}
	seen := map[string]bool{}
	for _, v := range vectors {
		t.Run(v.File, func(t *testing.T) {
			seen[v.Kind] = true
			b, err := os.ReadFile(filepath.Join(dir, v.File))
			if err != nil {
				t.Fatal(err)
			}
			if v.Kind == "chunk" {
				frame, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
				if err != nil {
					t.Fatal(err)
				}
				c, err := DecodeChunk(frame)
				if got := verdict(err, nil); got != v.Verdict {
					t.Fatalf("verdict %s (%v), want %s", got, err, v.Verdict)
				}
				if err == nil && !bytes.Equal(AppendChunk(nil, c), frame) {
					t.Fatal("the frame does not encode back to itself")
				}
				return
			}
			mk, ok := types[v.Kind]
			if !ok {
				t.Fatalf("no codec for kind %q", v.Kind)
			}
			b = bytes.TrimSpace(b)
			val := mk()
			var derr, cerr error
			if v.Kind != "sync" || len(b) > 0 { // an empty payload is a sync
				derr = Decode(b, val)
			}
			if h, ok := val.(*Header); ok && derr == nil {
				cerr = h.Check()
			}
			if got := verdict(derr, cerr); got != v.Verdict {
				t.Fatalf("verdict %s (%v, %v), want %s", got, derr, cerr, v.Verdict)
			}
			if derr == nil {
				again := mk()
				if err := Decode(Encode(val), again); err != nil || !reflect.DeepEqual(val, again) {
					t.Fatalf("%+v does not encode back to itself: %+v, %v", val, again, err)
				}
			}
		})
	}
	for kind := range types {
		if !seen[kind] {
			t.Errorf("no vector for %s", kind)
		}
	}
	if !seen["chunk"] {
		t.Error("no vector for the chunk frame")
	}
}

// verdict is the code the hub answers a payload with: bad_request when
// it does not decode, bad_header when a header's fields are out of range.
func verdict(decode, check error) string {
	switch {
	case decode != nil:
		return CodeBadRequest
	case check != nil:
		return CodeBadHeader
	}
	return "ok"
}
