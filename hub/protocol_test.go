package hub_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// TestStaleAcksNamed: with twenty chunks in flight and a wrong SHA-256,
// every answer of the attempt comes in order, the rejection that ends it
// last; the same header then starts a new attempt, with its own number,
// from chunk 0; and no answer to the dropped attempt arrives after its
// rejection. A device that follows Next cannot be led to skip a chunk.
func TestStaleAcksNamed(t *testing.T) {
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
