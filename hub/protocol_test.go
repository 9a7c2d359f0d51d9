package hub_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/wire"
)

// bunnyRaw starts a hub where the toy Bunny is linked to Bear, and speaks
// MQTT to it as Bunny with a raw client, listening on Bunny's down/.
func bunnyRaw(t *testing.T) (*testHub, *rawClient, string) {
	t.Helper()
	th := startHub(t)
	bunny := th.device("Bunny", "toy")
	th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	me := bunny.Info.DeviceID
	r, err := th.rawDial(th.rawTLS(bunny), me)
	if err != nil {
		t.Fatal(err)
	}
	r.subscribe(t, wire.DownFilter(me))
	return th, r, me
}

// TestStaleAcksNamed: with twenty chunks in flight and a wrong SHA-256,
// every answer of the attempt comes in order, the rejection that ends it
// last; the same header then starts a new attempt, with its own number,
// from chunk 0; and no answer to the dropped attempt arrives after its
// rejection. A device that follows Next cannot be led to skip a chunk.
func TestStaleAcksNamed(t *testing.T) {
	_, r, me := bunnyRaw(t)
	msg := recording(2.56, 7) // 21 chunks of 4 KiB
	const chunk = 4096
	h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), Chunk: chunk}
	h.SHA256[0] = 1 // wrong
	n := h.Chunks()
	sendAll := func() {
		var toks []interface{ WaitTimeout(time.Duration) bool }
		for seq := range n {
			end := min((seq+1)*chunk, len(msg))
			toks = append(toks, r.c.Publish(wire.UpTopic(me, wire.UpChunk), 1, false,
				wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(seq * chunk), Data: msg[seq*chunk : end]})))
		}
		for _, tok := range toks {
			tok.WaitTimeout(10 * time.Second)
		}
	}
	r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
	first := r.ack(t)
	if first.Status != wire.StatusAccepted || first.Attempt == 0 || first.Next != 0 {
		t.Fatalf("header: %+v", first)
	}
	sendAll()
	stored := 0
	for {
		a := r.ack(t)
		if a.Attempt != first.Attempt {
			t.Fatalf("an answer of another attempt in the middle of this one: %+v", a)
		}
		if a.Status == wire.StatusRejected {
			if a.Error == nil || a.Error.Code != wire.CodeHashMismatch {
				t.Fatalf("the rejection: %+v", a)
			}
			break
		}
		if a.Status != wire.StatusStored || a.Seq != stored || a.Next != stored+1 {
			t.Fatalf("answer %d out of order: %+v", stored, a)
		}
		stored++
	}
	if stored != n-1 {
		t.Fatalf("%d chunks stored before the rejection, want %d", stored, n-1)
	}

	// The same message again, now with its right hash: a new attempt.
	h.SHA256 = sha256.Sum256(msg)
	r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
	second := r.ack(t)
	if second.Op != wire.OpHeader || second.Status != wire.StatusAccepted || second.Next != 0 || second.Attempt == first.Attempt || second.Attempt == 0 {
		t.Fatalf("the header again, after the rejection: %+v (the first attempt was %d)", second, first.Attempt)
	}
	sendAll()
	for {
		a := r.ack(t)
		if a.Attempt != second.Attempt {
			t.Fatalf("an answer to the dropped attempt after its rejection: %+v", a)
		}
		if a.Status == wire.StatusCommitted {
			break
		}
		if a.Status != wire.StatusStored {
			t.Fatalf("the second attempt: %+v", a)
		}
	}
}

// TestUploadSlots: a toy cannot lock itself out. A cancelled upload is
// gone (its next chunk is unknown, its header starts again from chunk 0);
// and a toy that rebooted in the middle of eight uploads still sends: the
// ninth header takes the place of the one untouched the longest.
func TestUploadSlots(t *testing.T) {
	_, r, me := bunnyRaw(t)
	msg := recording(1, 3) // 4 chunks of 8 KiB
	header := func() wire.Header {
		return wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), SHA256: sha256.Sum256(msg), Chunk: 8192}
	}
	chunk := func(h wire.Header, seq int) wire.Ack {
		end := min((seq+1)*8192, len(msg))
		r.publish(t, wire.UpTopic(me, wire.UpChunk), wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(seq * 8192), Data: msg[seq*8192 : end]}))
		return r.ack(t)
	}
	start := func(h wire.Header) wire.Ack {
		r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
		return r.ack(t)
	}

	h := header()
	if a := start(h); a.Status != wire.StatusAccepted {
		t.Fatalf("header: %+v", a)
	}
	if a := chunk(h, 0); a.Status != wire.StatusStored {
		t.Fatalf("chunk 0: %+v", a)
	}
	r.publish(t, wire.UpTopic(me, wire.UpCancel), wire.Encode(wire.Cancel{ID: h.ID}))
	if a := r.ack(t); a.Op != wire.OpCancel || a.Status != wire.StatusCancelled {
		t.Fatalf("cancel: %+v", a)
	}
	if a := chunk(h, 1); a.Error == nil || a.Error.Code != wire.CodeUnknown {
		t.Fatalf("a chunk of a cancelled upload: %+v", a)
	}
	if a := start(h); a.Status != wire.StatusAccepted || a.Next != 0 {
		t.Fatalf("the cancelled upload's header again: %+v", a)
	}

	// Eight unfinished uploads (the one above among them), then a ninth.
	hs := []wire.Header{h}
	for range 7 {
		hs = append(hs, header())
		if a := start(hs[len(hs)-1]); a.Status != wire.StatusAccepted {
			t.Fatalf("upload %d: %+v", len(hs), a)
		}
	}
	ninth := header()
	if a := start(ninth); a.Status != wire.StatusAccepted {
		t.Fatalf("the ninth unfinished upload: %+v", a)
	}
	for seq := range ninth.Chunks() {
		if a := chunk(ninth, seq); a.Status == wire.StatusRejected {
			t.Fatalf("the ninth, chunk %d: %+v", seq, a)
		} else if seq == ninth.Chunks()-1 && a.Status != wire.StatusCommitted {
			t.Fatalf("the ninth's last chunk: %+v", a)
		}
	}
	if a := chunk(hs[0], 0); a.Error == nil || a.Error.Code != wire.CodeUnknown {
		t.Fatalf("the upload untouched the longest is still there: %+v", a)
	}
}

// TestFetchBounds: a fetch says what is wrong with its offset: before
// the start is a bad request, at or past the end is beyond_size (for a
// recipient; to anyone else the message stays unknown). A sync's answer
// names no message.
func TestFetchBounds(t *testing.T) {
	th := startHub(t)
	bunny, bear, eve := th.device("Bunny", "toy"), th.device("Bear", "toy"), th.device("Eve", "family")
	th.link("Bunny", "Bear")
	th.link("Eve", "Bunny")
	id := wire.NewMessageID()
	msg := recording(1, 5)
	if err := th.dial(bunny).Send(context.Background(), id, msg, []string{"Bear"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		who    *certs.Bundle
		offset int64
		code   string
	}{
		{"before the start", bear, -1, wire.CodeBadRequest},
		{"at the end", bear, int64(len(msg)), wire.CodeBeyondSize},
		{"past the end", bear, int64(len(msg)) + 9000, wire.CodeBeyondSize},
		{"at the end, not a recipient", eve, int64(len(msg)), wire.CodeUnknown},
		{"inside, not a recipient", eve, 0, wire.CodeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			me := tt.who.Info.DeviceID
			r, err := th.rawDial(th.rawTLS(tt.who), me)
			if err != nil {
				t.Fatal(err)
			}
			r.subscribe(t, wire.DownFilter(me))
			r.publish(t, wire.UpTopic(me, wire.UpFetch), wire.Encode(wire.Fetch{ID: id, Offset: tt.offset}))
			if a := r.ack(t); a.Op != wire.OpFetch || a.Error == nil || a.Error.Code != tt.code {
				t.Fatalf("fetch at %d: %+v, want %s", tt.offset, a, tt.code)
			}
			r.publish(t, wire.UpTopic(me, wire.UpSync), nil)
			for {
				raw := r.next(t, wire.DownAck)
				if strings.Contains(string(raw), `"op":"sync"`) {
					if strings.Contains(string(raw), `"id"`) {
						t.Fatalf("a sync's answer names a message: %s", raw)
					}
					break
				}
			}
		})
	}
}

// TestLimitsTold: a device hears the hub's limits as soon as it listens,
// and the project's client keeps to them: with a hub that takes 4 KiB
// chunks, its send (32 KiB chunks by default) still goes through.
func TestLimitsTold(t *testing.T) {
	th := startHub(t, func(c *hub.Config) {
		c.MaxChunk, c.MaxMessageBytes, c.MaxDuration = 4096, 1<<20, 30*time.Second
	})
	bunny := th.device("Bunny", "toy")
	th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	want := wire.Limits{Chunk: 4096, UploadWindow: 16, FetchWindow: 16, RetryMS: 10000, MaxBytes: 1 << 20, MaxSeconds: 30, KeepaliveS: 30, Batch: true}

	me := bunny.Info.DeviceID
	r, err := th.rawDial(th.rawTLS(bunny), me)
	if err != nil {
		t.Fatal(err)
	}
	r.subscribe(t, wire.DownFilter(me))
	var got wire.Limits
	if err := wire.Decode(r.next(t, wire.DownLimits), &got); err != nil || got != want {
		t.Fatalf("limits %+v, %v; want %+v", got, err, want)
	}
	r.c.Disconnect(0)

	c := th.dial(bunny)
	if l := c.Limits(); l != want {
		t.Fatalf("the client keeps %+v, want %+v", l, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Send(ctx, wire.NewMessageID(), recording(1, 9), nil); err != nil {
		t.Fatalf("a send within the hub's chunk size: %v", err)
	}
}

// TestConstrainedDevice: a device with room for one 4 KiB chunk at a time
// (a window of 1) sends, and receives a message its sender cut into
// 32 KiB chunks, byte for byte: its fetches name their largest answer, and
// the hub never answers more.
func TestConstrainedDevice(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := th.opts()
	opts.Window, opts.Chunk = 1, 4096
	small, err := devices.Dial(ctx, bear, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	big := th.dial(bunny)

	there := recording(3, 11) // 96,044 bytes: three chunks of 32 KiB and a bit
	id := wire.NewMessageID()
	if err := big.Send(ctx, id, there, nil); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, small, 1); string(got[id]) != string(there) {
		t.Fatal("the small device got different bytes")
	}
	back := recording(1.5, 12)
	if err := small.Send(ctx, wire.NewMessageID(), back, nil); err != nil {
		t.Fatalf("the small device sending: %v", err)
	}
	for _, got := range receive(t, big, 1) {
		if string(got) != string(back) {
			t.Fatal("the reply arrived different")
		}
	}

	// The hub's side: a fetch with a largest answer gets no more.
	me := bear.Info.DeviceID
	r, err := th.rawDial(th.rawTLS(bear), me)
	if err != nil {
		t.Fatal(err)
	}
	r.subscribe(t, wire.DownFilter(me))
	for _, tt := range []struct {
		offset int64
		max    int
		want   int
	}{{0, 4096, 4096}, {30000, 4096, 32768 - 30000}, {0, 0, 32768}, {int64(len(there)) - 100, 4096, 100}} {
		r.publish(t, wire.UpTopic(me, wire.UpFetch), wire.Encode(wire.Fetch{ID: id, Offset: tt.offset, Max: tt.max}))
		c, err := wire.DecodeChunk(r.next(t, wire.DownData))
		if err != nil || int64(c.Offset) != tt.offset || len(c.Data) != tt.want {
			t.Fatalf("fetch at %d, max %d: %d bytes at %d (%v); want %d", tt.offset, tt.max, len(c.Data), c.Offset, err, tt.want)
		}
	}
}

// TestStatusUntilHeard: a sender is told what became of its message at
// every sync until it says it heard (up/heard); a heard that names no
// delivery of its own is refused and changes nothing; and the project's
// client says it heard each status it hands on.
func TestStatusUntilHeard(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	me, gran := bunny.Info.DeviceID, bear.Info.DeviceID
	id := wire.NewMessageID()
	if err := devices.Deliver(context.Background(), bunny, th.opts(), id, recording(1, 3), nil); err != nil {
		t.Fatal(err)
	}
	receive(t, th.dial(bear), 1) // fetched and played while Bunny is away

	r, err := th.rawDial(th.rawTLS(bunny), me)
	if err != nil {
		t.Fatal(err)
	}
	r.subscribe(t, wire.DownFilter(me))
	// sync returns the statuses a sync brings, up to its answer.
	sync := func() []wire.Status {
		t.Helper()
		r.publish(t, wire.UpTopic(me, wire.UpSync), []byte("{}"))
		var out []wire.Status
		for {
			select {
			case m := <-r.in:
				switch m.Topic() {
				case wire.DownTopic(me, wire.DownStatus):
					var st wire.Status
					if err := wire.Decode(m.Payload(), &st); err != nil {
						t.Fatal(err)
					}
					out = append(out, st)
				case wire.DownTopic(me, wire.DownAck):
					var a wire.Ack
					if err := wire.Decode(m.Payload(), &a); err != nil || a.Op != wire.OpSync {
						t.Fatalf("answer to a sync: %s (%v)", m.Payload(), err)
					}
					return out
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no answer to a sync")
			}
		}
	}
	for i := range 2 {
		if sts := sync(); len(sts) != 1 || sts[0].ID != id || sts[0].To != gran || sts[0].State != wire.StatePlayed {
			t.Fatalf("sync %d, before heard: %+v", i+1, sts)
		}
	}
	for _, c := range []struct {
		name, payload, code string
	}{
		{"not JSON", `{"id":`, wire.CodeBadRequest},
		{"unknown field", `{"id":"` + id.String() + `","to":"` + gran + `","state":"played","x":1}`, wire.CodeBadRequest},
		{"another recipient", string(wire.Encode(wire.Heard{ID: id, To: me, State: wire.StatePlayed})), wire.CodeUnknown},
		{"another message", string(wire.Encode(wire.Heard{ID: wire.NewMessageID(), To: gran, State: wire.StatePlayed})), wire.CodeUnknown},
		{"no such state", string(wire.Encode(wire.Heard{ID: id, To: gran, State: "lost"})), wire.CodeUnknown},
	} {
		r.publish(t, wire.UpTopic(me, wire.UpHeard), []byte(c.payload))
		if a := r.ack(t); a.Op != wire.OpHeard || a.Status != wire.StatusRejected || a.Error == nil || a.Error.Code != c.code {
			t.Errorf("%s: %+v", c.name, a)
		}
	}
	if sts := sync(); len(sts) != 1 {
		t.Fatalf("after refused heards: %+v", sts)
	}
	// Hearing "delivered" does not cover "played".
	r.publish(t, wire.UpTopic(me, wire.UpHeard), wire.Encode(wire.Heard{ID: id, To: gran, State: wire.StateDelivered}))
	if sts := sync(); len(sts) != 1 || sts[0].State != wire.StatePlayed {
		t.Fatalf("after hearing delivered: %+v", sts)
	}
	r.publish(t, wire.UpTopic(me, wire.UpHeard), wire.Encode(wire.Heard{ID: id, To: gran, State: wire.StatePlayed}))
	if sts := sync(); len(sts) != 0 {
		t.Fatalf("after hearing played: %+v", sts)
	}

	// The project's client: a second message's status comes once, and then
	// no more.
	r.c.Disconnect(0)
	id2 := wire.NewMessageID()
	if err := devices.Deliver(context.Background(), bunny, th.opts(), id2, recording(1, 4), nil); err != nil {
		t.Fatal(err)
	}
	receive(t, th.dial(bear), 1)
	a := th.dial(bunny)
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a, id2, wire.StatePlayed)
	// The client's heard leaves before its next sync, whose statuses come
	// before its answer.
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-a.Statuses():
		t.Fatalf("the client handed a status on but the hub repeats it: %+v", st)
	default:
	}
}
