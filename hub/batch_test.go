package hub_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/wire"
)

// TestBatchAnswers: chunks sent right behind a new header, before its
// answer, find the upload it starts. Without Batch every chunk is answered
// on its own; with Batch, answers come in order, each covering every chunk
// before its Next, and chunks made durable together share one answer.
func TestBatchAnswers(t *testing.T) {
	_, r, me := bunnyRaw(t)
	msg := recording(2.56, 7) // 21 chunks of 4 KiB
	const chunk = 4096
	upload := func(batch bool) (answers, chunks int) {
		h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)),
			SHA256: sha256.Sum256(msg), Chunk: chunk, Batch: batch}
		n := h.Chunks()
		// The header and every chunk at once, as a device sending a new
		// message may: nothing waits for an answer.
		r.c.Publish(wire.UpTopic(me, wire.UpHeader), 1, false, wire.Encode(h))
		for seq := range n {
			end := min((seq+1)*chunk, len(msg))
			r.c.Publish(wire.UpTopic(me, wire.UpChunk), 0, false,
				wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(seq * chunk), Data: msg[seq*chunk : end]}))
		}
		first := r.ack(t)
		if first.Op != wire.OpHeader || first.Status != wire.StatusAccepted || first.Next != 0 {
			t.Fatalf("header: %+v", first)
		}
		next := 0
		for {
			a := r.ack(t)
			answers++
			if a.Op != wire.OpChunk || a.Attempt != first.Attempt || a.Next <= next || a.Seq != a.Next-1 {
				t.Fatalf("batch %v: answer %d after next %d: %+v", batch, answers, next, a)
			}
			if !batch && a.Next != next+1 {
				t.Fatalf("without batch, an answer covering chunks %d to %d: %+v", next, a.Next-1, a)
			}
			next = a.Next
			if a.Status == wire.StatusCommitted {
				if next != n {
					t.Fatalf("committed with next %d of %d chunks", next, n)
				}
				return answers, n
			}
			if a.Status != wire.StatusStored {
				t.Fatalf("batch %v: %+v", batch, a)
			}
		}
	}
	if answers, n := upload(false); answers != n {
		t.Fatalf("without batch: %d answers for %d chunks", answers, n)
	}
	// Whether two chunks share a commit depends on timing; sent at once,
	// 21 of them almost always do. Three uploads without one shared
	// answer would mean the hub answers each chunk anyway.
	for try := range 3 {
		if answers, n := upload(true); answers < n {
			return
		} else if try == 2 {
			t.Fatalf("with batch: %d answers for %d chunks, three times", answers, n)
		}
	}
}

// TestFetchCount: one fetch asks for several pieces in a row, each its
// own frame, walking the sender's stored chunks as single fetches would
// (a largest answer included), and stopping at the end. More than the
// fetch window is a bad request; a device the message is not for learns
// nothing.
func TestFetchCount(t *testing.T) {
	th := startHub(t)
	bunny, bear, eve := th.device("Bunny", "toy"), th.device("Bear", "toy"), th.device("Eve", "family")
	th.link("Bunny", "Bear")
	th.link("Eve", "Bunny")
	msg := recording(2.56, 5) // 81,964 bytes
	id := wire.NewMessageID()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := th.opts()
	opts.Chunk = 4096 // 21 stored chunks
	sender, err := devices.Dial(ctx, bunny, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if err := sender.Send(ctx, id, msg, []string{"Bear"}); err != nil {
		t.Fatal(err)
	}
	size := int64(len(msg))
	tests := []struct {
		name           string
		offset         int64
		max, count     int
		offsets, sizes []int64 // the frames, in order
		code           string
	}{
		{name: "five from the start", count: 5,
			offsets: []int64{0, 4096, 8192, 12288, 16384}, sizes: []int64{4096, 4096, 4096, 4096, 4096}},
		{name: "a count past the end stops there", offset: 19 * 4096, count: 16,
			offsets: []int64{19 * 4096, 20 * 4096}, sizes: []int64{4096, size - 20*4096}},
		{name: "with a largest answer", offset: 2000, max: 1000, count: 4,
			offsets: []int64{2000, 3000, 4000, 4096}, sizes: []int64{1000, 1000, 96, 1000}},
		{name: "count 1 is a single fetch", offset: 100, count: 1,
			offsets: []int64{100}, sizes: []int64{3996}},
		{name: "more than the window", count: 17, code: wire.CodeBadRequest},
		{name: "a negative count", count: -1, code: wire.CodeBadRequest},
	}
	me := bear.Info.DeviceID
	r, err := th.rawDial(th.rawTLS(bear), me)
	if err != nil {
		t.Fatal(err)
	}
	r.subscribe(t, wire.DownFilter(me))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.publish(t, wire.UpTopic(me, wire.UpFetch), wire.Encode(wire.Fetch{ID: id, Offset: tt.offset, Max: tt.max, Count: tt.count}))
			if tt.code != "" {
				if a := r.ack(t); a.Op != wire.OpFetch || a.Error == nil || a.Error.Code != tt.code {
					t.Fatalf("%+v, want %s", a, tt.code)
				}
				return
			}
			for i, off := range tt.offsets {
				c, err := wire.DecodeChunk(r.next(t, wire.DownData))
				if err != nil || int64(c.Offset) != off || int64(len(c.Data)) != tt.sizes[i] || string(c.Data) != string(msg[off:off+tt.sizes[i]]) {
					t.Fatalf("frame %d: %d bytes at %d (%v); want %d at %d", i, len(c.Data), c.Offset, err, tt.sizes[i], off)
				}
			}
			// Nothing more: a fetch past the end answers at once, and
			// is the next thing heard.
			r.publish(t, wire.UpTopic(me, wire.UpFetch), wire.Encode(wire.Fetch{ID: id, Offset: size}))
			if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeBeyondSize {
				t.Fatalf("after the frames: %+v", a)
			}
		})
	}
	t.Run("not a recipient", func(t *testing.T) {
		me := eve.Info.DeviceID
		r, err := th.rawDial(th.rawTLS(eve), me)
		if err != nil {
			t.Fatal(err)
		}
		r.subscribe(t, wire.DownFilter(me))
		r.publish(t, wire.UpTopic(me, wire.UpFetch), wire.Encode(wire.Fetch{ID: id, Count: 4}))
		if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeUnknown {
			t.Fatalf("%+v, want unknown", a)
		}
	})
}

// TestSendNewRefused: a new message sent ahead of its header's answer to
// a device that is not a contact fails with the header's refusal, not with
// the chunks' "unknown"; the same client then sends to its contact, and
// the same message sent again is known as committed.
func TestSendNewRefused(t *testing.T) {
	th := startHub(t)
	bunny := th.device("Bunny", "toy")
	th.device("Bear", "toy")
	th.device("Stranger", "toy")
	th.link("Bunny", "Bear")
	c := th.dial(bunny)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg := recording(3, 2)
	var we *wire.Error
	if err := c.SendNew(ctx, wire.NewMessageID(), msg, []string{"Stranger"}); !errors.As(err, &we) || we.Code != wire.CodeNotContact {
		t.Fatalf("to a stranger: %v, want not_contact", err)
	}
	id := wire.NewMessageID()
	if err := c.SendNew(ctx, id, msg, []string{"Bear"}); err != nil {
		t.Fatalf("to Bear after the refusal: %v", err)
	}
	if err := c.Send(ctx, id, msg, []string{"Bear"}); err != nil {
		t.Fatalf("the same message again: %v", err)
	}
}
