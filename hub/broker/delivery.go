package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// announce notifies the connected recipients of message w, just
// committed. What they are told was read in the commit; a fetch is
// authorized piece by piece, whatever a notification said.
func (r *router) announce(w store.Waiting, recipients []string) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	n := wire.Encode(notifyOf(w))
	for _, rc := range recipients {
		if !r.online(rc) || r.quiet(ctx, rc) {
			continue // a toy in its quiet hours hears of it when they end
		}
		r.send(rc, wire.DownNotify, n)
	}
}

func notifyOf(w store.Waiting) wire.Notify {
	id, _ := wire.ParseMessageID(w.MessageID)
	return wire.Notify{ID: id, From: w.Sender, FromName: w.SenderName, Format: w.Format, Size: w.Size,
		SHA256: w.SHA256, Chunk: w.ChunkSize, SentAt: w.SentAt.Unix()}
}

func statusOf(st store.Status) wire.Status {
	id, _ := wire.ParseMessageID(st.MessageID)
	return wire.Status{ID: id, To: st.Recipient, State: st.State, At: st.At.Unix()}
}

// tell passes a delivery status to its sender if it is connected. Until
// the sender says it heard it (up/heard), each of its syncs sends it again.
func (r *router) tell(st store.Status) {
	if r.online(st.Sender) {
		r.send(st.Sender, wire.DownStatus, wire.Encode(statusOf(st)))
	}
}

// quiet reports whether a device is in the quiet hours a parent set.
func (r *router) quiet(ctx context.Context, dev string) bool {
	st, err := r.st.DeviceSettings(ctx, dev)
	return err == nil && st.InQuiet(r.cfg.Now().Local())
}

// releaseQuiet notifies the connected devices whose quiet hours have
// ended since the last call of everything that waited for them.
func (r *router) releaseQuiet(ctx context.Context) {
	r.mu.Lock()
	if r.wasQuiet == nil {
		r.wasQuiet = map[string]bool{}
	}
	r.mu.Unlock()
	for _, cl := range r.srv.Clients.GetAll() {
		if cl.Net.Inline || cl.Closed() {
			continue
		}
		dev := cl.ID
		quiet := r.quiet(ctx, dev)
		r.mu.Lock()
		was := r.wasQuiet[dev]
		r.wasQuiet[dev] = quiet
		r.mu.Unlock()
		if !was || quiet {
			continue
		}
		ws, err := r.st.WaitingFor(ctx, dev)
		if err != nil {
			r.log.Error("Held messages not released", "device", dev, "error", err)
			continue
		}
		for _, w := range ws {
			r.send(dev, wire.DownNotify, wire.Encode(notifyOf(w)))
		}
		if len(ws) > 0 {
			r.log.Info("Quiet hours over: held messages announced", "device", dev, "messages", len(ws))
		}
	}
}

// committed announces a message the store has committed, from whichever
// door it came (via): the toy's chunks or the web app.
func (r *router) committed(dev string, res store.ChunkResult, via string) {
	r.log.Info("Message committed", "device", dev, "message", res.Waiting.MessageID, "bytes", res.Waiting.Size, "recipients", len(res.Recipients), "via", via)
	r.metrics.MessageStored(res.Waiting.Size)
	go r.announce(res.Waiting, res.Recipients)
	r.live.Publish(append([]string{dev}, res.Recipients...)...)
}

// delivered records that a recipient has fetched a whole message, and
// tells its sender.
func (r *router) delivered(dev, id string) {
	r.st.MarkDelivered(dev, id, func(st store.Status, changed bool, err error) {
		if err != nil {
			r.log.Error("Delivery not recorded", "device", dev, "message", id, "error", err)
		}
		if changed {
			r.tell(st)
			r.live.Publish(st.Sender, st.Recipient)
			r.metrics.MessageDelivered()
		}
	})
}

// played records that a recipient has played a message, and tells its
// sender; a message that is not the recipient's is store.ErrNotFound.
func (r *router) played(ctx context.Context, dev, id string) error {
	st, changed, err := r.st.MarkPlayed(ctx, dev, id)
	if err != nil {
		return err
	}
	if changed {
		r.log.Info("Message played", "device", dev, "message", id, "sender", st.Sender)
		r.tell(st)
		r.live.Publish(st.Sender, st.Recipient)
	}
	return nil
}

// checkRecording reads the WAV header at the start of a recording of size
// bytes and checks it against what the toys play and the hub accepts; code
// is "" when it is acceptable.
func (r *router) checkRecording(first []byte, size int64) (w wire.WAVInfo, code, msg string) {
	w, err := wire.ParseWAV(first, size)
	if err != nil {
		return w, wire.CodeNotWAV, "the recording must be WAV PCM, 16-bit, mono, 8 to 48 kHz: " + err.Error()
	}
	if w.Duration() > r.cfg.MaxDuration {
		return w, wire.CodeTooLong, fmt.Sprintf("the recording lasts %v; this hub accepts at most %v", w.Duration().Round(time.Second), r.cfg.MaxDuration)
	}
	return w, "", ""
}
