package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"testing"
	"time"

	"github.com/toyhub/toyhub/devices"
	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/wire"
)

// TestExchange: two toys exchange 10-second recordings through the hub,
// byte for byte, and each sender hears that its message was played.
func TestExchange(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	a, b := th.dial(bunny), th.dial(bear)
	ctx := context.Background()

	hello := recording(10, 1)
	if len(hello) != 320044 {
		t.Fatalf("a 10 s recording at 16 kHz is %d bytes", len(hello))
	}
	id := wire.NewMessageID()
	if err := a.Send(ctx, id, hello, []string{"Bear"}); err != nil {
		t.Fatal(err)
	}
	got := receive(t, b, 1)
	if !bytes.Equal(got[id], hello) {
		t.Fatalf("Bear received %d bytes that differ from the %d sent", len(got[id]), len(hello))
	}
	waitStatus(t, a, id, wire.StatePlayed)

	// And back, addressed by device ID this time.
	reply := recording(10, 2)
	rid := wire.NewMessageID()
	if err := b.Send(ctx, rid, reply, []string{bunny.Info.DeviceID}); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, a, 1); !bytes.Equal(got[rid], reply) {
		t.Fatal("Bunny received other bytes")
	}
	waitStatus(t, b, rid, wire.StatePlayed)

	// Sending the same message again is recognised, not stored twice.
	if err := a.Send(ctx, id, hello, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Sync(ctx); err != nil || n != 0 {
		t.Fatalf("after a played message and a resend, %d wait (%v)", n, err)
	}
}

// TestNotifiedAsSynced: the notification sent as a message is committed,
// to every recipient connected, says what a later sync says of it,
// whichever door the message came through.
func TestNotifiedAsSynced(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy, bear := th.device("Teddy", "toy"), th.device("Bear", "toy")
	bunny := th.dial(th.device("Bunny", "toy"))
	th.link("Bunny", "Teddy")
	th.link("Bunny", "Bear")
	toys := map[string]*devices.Client{"Teddy": th.dial(teddy), "Bear": th.dial(bear)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, c := range []struct {
		name, from string
		to         []string
		send       func(t *testing.T, wav []byte) wire.MessageID
	}{
		{"a toy to two toys", "Bunny", []string{"Teddy", "Bear"}, func(t *testing.T, wav []byte) wire.MessageID {
			id := wire.NewMessageID()
			if err := bunny.Send(ctx, id, wav, []string{"Teddy", "Bear"}); err != nil {
				t.Fatal(err)
			}
			return id
		}},
		{"the web app to a toy", "Mum", []string{"Teddy"}, func(t *testing.T, wav []byte) wire.MessageID {
			resp, body := mum.do("POST", "/toys/"+teddy.Info.DeviceID+"/messages", "audio/wav", wav)
			id, err := wire.ParseMessageID(body)
			if resp.StatusCode != http.StatusCreated || err != nil {
				t.Fatalf("send from the web: %d %s", resp.StatusCode, body)
			}
			return id
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wav := recording(1, uint32(20+i))
			id := c.send(t, wav)
			for _, name := range c.to {
				told := notified(t, toys[name], id)
				if told.FromName != c.from || told.Size != int64(len(wav)) || told.SHA256 != sha256.Sum256(wav) || told.Format != wire.FormatWAV || told.SentAt == 0 {
					t.Fatalf("%s was told %+v", name, told)
				}
				if _, err := toys[name].Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if synced := notified(t, toys[name], id); synced != told {
					t.Fatalf("%s was told\n%+v\nas it was committed, and\n%+v\nat a sync", name, told, synced)
				}
			}
		})
	}
}

// notified waits for a notification of message id.
func notified(t *testing.T, c *devices.Client, id wire.MessageID) wire.Notify {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-c.Notifications():
			if n.ID == id {
				return n
			}
		case <-timeout:
			t.Fatalf("no notification of %s", id)
		}
	}
}

func waitStatus(t *testing.T, c *devices.Client, id wire.MessageID, state string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case st := <-c.Statuses():
			if st.ID == id && st.State == state {
				return
			}
		case <-timeout:
			t.Fatalf("no %q status for %s", state, id)
		}
	}
}

// TestOfflineRecipient: a message for a device that is not connected
// waits in the store until it connects.
func TestOfflineRecipient(t *testing.T) {
	th := startHub(t)
	bunny, gran := th.device("Bunny", "toy"), th.device("Grandma", "family")
	th.link("Bunny", "Grandma")
	msgs := [][]byte{recording(3, 1), recording(4, 2), recording(5, 3)}
	for _, m := range msgs {
		if err := devices.Deliver(context.Background(), bunny, th.opts(), wire.NewMessageID(), m, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := receive(t, th.dial(gran), len(msgs))
	for _, m := range msgs {
		found := false
		for _, g := range got {
			found = found || bytes.Equal(g, m)
		}
		if !found {
			t.Fatalf("a message of %d bytes was not delivered", len(m))
		}
	}
	// The sender, offline when they were played, hears at its next sync.
	a := th.dial(bunny)
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	for range msgs {
		select {
		case st := <-a.Statuses():
			if st.State != wire.StatePlayed {
				t.Fatalf("status %q", st.State)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no status after sync")
		}
	}
}

// TestRestartBetweenUploadAndDelivery: a committed message survives a hub
// restart and is delivered intact.
func TestRestartBetweenUploadAndDelivery(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	msg := recording(10, 7)
	id := wire.NewMessageID()
	if err := devices.Deliver(context.Background(), bunny, th.opts(), id, msg, nil); err != nil {
		t.Fatal(err)
	}
	th.restart()
	if got := receive(t, th.dial(bear), 1); !bytes.Equal(got[id], msg) {
		t.Fatal("message lost or changed across a restart")
	}
}

// TestResume drives the upload protocol by hand: an upload interrupted by
// a disconnect, and again by a hub restart, resumes where the hub
// stopped; repeated chunks and headers store nothing twice.
func TestResume(t *testing.T) {
	th := startHub(t)
	bunny, bear := th.device("Bunny", "toy"), th.device("Bear", "toy")
	th.link("Bunny", "Bear")
	me := bunny.Info.DeviceID
	msg := recording(3, 9) // 96,044 bytes
	const chunk = 8192
	h := wire.Header{V: 1, ID: wire.NewMessageID(), Format: wire.FormatWAV, Size: int64(len(msg)), SHA256: sha256.Sum256(msg), Chunk: chunk}
	n := h.Chunks()
	frame := func(seq int) []byte {
		end := min((seq+1)*chunk, len(msg))
		return wire.AppendChunk(nil, wire.Chunk{ID: h.ID, Seq: uint32(seq), Offset: uint32(seq * chunk), Data: msg[seq*chunk : end]})
	}
	connect := func() *rawClient {
		r, err := th.rawDial(th.rawTLS(bunny), me)
		if err != nil {
			t.Fatal(err)
		}
		if code := r.subscribe(t, wire.DownFilter(me)); code >= 0x80 {
			t.Fatalf("own subscription refused: %#x", code)
		}
		return r
	}
	header := func(r *rawClient) wire.Ack {
		r.publish(t, wire.UpTopic(me, wire.UpHeader), wire.Encode(h))
		a := r.ack(t)
		if a.Op != wire.OpHeader {
			t.Fatalf("ack for %q", a.Op)
		}
		return a
	}
	sendChunk := func(r *rawClient, seq int, want string) wire.Ack {
		r.publish(t, wire.UpTopic(me, wire.UpChunk), frame(seq))
		a := r.ack(t)
		if a.Status != want || a.Seq != seq {
			t.Fatalf("chunk %d: ack %+v, want %s", seq, a, want)
		}
		return a
	}

	r := connect()
	if a := header(r); a.Status != wire.StatusAccepted || a.Next != 0 {
		t.Fatalf("new upload: %+v", a)
	}
	for seq := range 3 {
		sendChunk(r, seq, wire.StatusStored)
	}
	r.c.Disconnect(0)

	r = connect()
	if a := header(r); a.Status != wire.StatusAccepted || a.Next != 3 {
		t.Fatalf("resume after disconnect: %+v", a)
	}
	if a := sendChunk(r, 1, wire.StatusStored); a.Next != 3 {
		t.Fatalf("repeated chunk: %+v", a)
	}
	r.publish(t, wire.UpTopic(me, wire.UpChunk), frame(5))
	if a := r.ack(t); a.Error == nil || a.Error.Code != wire.CodeOutOfOrder || a.Next != 3 {
		t.Fatalf("chunk 5 before 3: %+v", a)
	}
	for seq := 3; seq < 6; seq++ {
		sendChunk(r, seq, wire.StatusStored)
	}

	// A restart loses the hub's running hash; it rebuilds it from the store.
	th.restart()
	r = connect()
	if a := header(r); a.Status != wire.StatusAccepted || a.Next != 6 {
		t.Fatalf("resume after restart: %+v", a)
	}
	for seq := 6; seq < n-1; seq++ {
		sendChunk(r, seq, wire.StatusStored)
	}
	sendChunk(r, n-1, wire.StatusCommitted)
	if a := header(r); a.Status != wire.StatusCommitted {
		t.Fatalf("header after commit: %+v", a)
	}

	got := receive(t, th.dial(bear), 1)
	if !bytes.Equal(got[h.ID], msg) {
		t.Fatal("resumed message differs")
	}
}
