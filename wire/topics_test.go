package wire

import "testing"

func TestTopicACL(t *testing.T) {
	me := NewDeviceID()
	other := NewDeviceID()
	tests := []struct {
		name      string
		topic     string
		publish   bool
		subscribe bool
	}{
		{"own header", UpTopic(me, UpHeader), true, false},
		{"own chunk", UpTopic(me, UpChunk), true, false},
		{"own down all", DownFilter(me), false, true},
		{"own down ack", DownTopic(me, DownAck), false, true},
		{"other up", UpTopic(other, UpHeader), false, false},
		{"other down", DownFilter(other), false, false},
		{"everything", "#", false, false},
		{"sys", "$SYS/#", false, false},
		{"plus device", Prefix + "+/down/#", false, false},
		{"own plus kind", Prefix + me + "/down/+", false, false},
		{"own up wildcard", Prefix + me + "/up/#", false, false},
		{"own root", Prefix + me + "/#", false, false},
		{"deep kind", UpTopic(me, "a/b"), false, false},
		{"empty kind", Prefix + me + "/up/", false, false},
		{"not an id", Prefix + "short/up/header", false, false},
		{"down nested", Prefix + me + "/down/a/b", false, false},
		{"down empty", Prefix + me + "/down/", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MayPublish(me, tt.topic); got != tt.publish {
				t.Errorf("MayPublish(%q) = %v, want %v", tt.topic, got, tt.publish)
			}
			if got := MaySubscribe(me, tt.topic); got != tt.subscribe {
				t.Errorf("MaySubscribe(%q) = %v, want %v", tt.topic, got, tt.subscribe)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	id := NewDeviceID()
	if !ValidDeviceID(id) {
		t.Fatalf("NewDeviceID() = %q is not valid", id)
	}
	for _, bad := range []string{"", id[:25], id + "a", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwx01"} {
		if ValidDeviceID(bad) {
			t.Errorf("ValidDeviceID(%q) = true", bad)
		}
	}
	m := NewMessageID()
	back, err := ParseMessageID(m.String())
	if err != nil || back != m {
		t.Fatalf("ParseMessageID(%s) = %v, %v", m, back, err)
	}
	for _, bad := range []string{"", "00", m.String() + "0", "0123456789ABCDEF0123456789abcdef", "g123456789abcdef0123456789abcdef"} {
		if _, err := ParseMessageID(bad); err == nil {
			t.Errorf("ParseMessageID(%q) succeeded", bad)
		}
	}
}

// TestDecodeStrict: the hub refuses what it does not know; a device
// (DecodeDown) ignores fields it does not know, and nothing else.
func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		ok, down bool
	}{
		{"valid", `{"id":"0123456789abcdef0123456789abcdef","offset":5}`, true, true},
		{"unknown field", `{"id":"0123456789abcdef0123456789abcdef","offset":5,"x":1}`, false, true},
		{"trailing", `{"id":"0123456789abcdef0123456789abcdef"} {}`, false, false},
		{"bad id", `{"id":"nope","offset":5}`, false, false},
		{"not json", `RIFF`, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Fetch
			if err := Decode([]byte(tt.in), &f); (err == nil) != tt.ok {
				t.Errorf("Decode(%s) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err := DecodeDown([]byte(tt.in), &f); (err == nil) != tt.down {
				t.Errorf("DecodeDown(%s) error = %v, want ok=%v", tt.in, err, tt.down)
			}
		})
	}
}

func TestHeaderCheck(t *testing.T) {
	good := Header{V: 1, ID: NewMessageID(), Format: FormatWAV, Size: 1000, Chunk: 512}
	tests := []struct {
		name   string
		change func(*Header)
		ok     bool
	}{
		{"good", func(*Header) {}, true},
		{"version", func(h *Header) { h.V = 2 }, false},
		{"format", func(h *Header) { h.Format = "mp3" }, false},
		{"tiny", func(h *Header) { h.Size = 10 }, false},
		{"chunk zero", func(h *Header) { h.Chunk = 0 }, false},
		{"chunk huge", func(h *Header) { h.Chunk = MaxChunk + 1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good
			tt.change(&h)
			if err := h.Check(); (err == nil) != tt.ok {
				t.Fatalf("Check() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if n := good.Chunks(); n != 2 {
		t.Errorf("Chunks() = %d, want 2", n)
	}
}
