package broker

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// ErrBadRecording marks a recording that is not one the toys accept: not
// WAV as they play it, too long, or too large.
var ErrBadRecording = errors.New("not a recording the toys can play")

// Send stores a whole recording (from the web app) as a message from a
// device, exactly as an MQTT upload would be: the same checks of format,
// length and contacts, the same durable commit; then announces it as the
// router announces a toy's.
func (b *Broker) Send(ctx context.Context, from string, to []string, wav []byte) (string, error) {
	r := b.router
	if int64(len(wav)) > r.cfg.MaxMessageBytes {
		return "", fmt.Errorf("%w: the recording is too long", ErrBadRecording)
	}
	info, code, msg := r.checkRecording(wav, int64(len(wav)))
	if code != "" {
		return "", fmt.Errorf("%w: %s", ErrBadRecording, msg)
	}
	id := wire.NewMessageID().String()
	spec := store.UploadSpec{ID: id, Sender: from, To: to, Format: wire.FormatWAV, Size: int64(len(wav)),
		SHA256: sha256.Sum256(wav), ChunkSize: r.cfg.MaxChunk}
	up, err := r.st.StartUpload(ctx, spec)
	if err != nil {
		return "", err
	}
	n := spec.Chunks()
	results := make(chan store.ChunkResult, n)
	for seq := range n {
		end := min((seq+1)*spec.ChunkSize, len(wav))
		r.st.PutChunk(up, seq, wav[seq*spec.ChunkSize:end], seq == n-1, info.Duration(), func(res store.ChunkResult) { results <- res })
	}
	var last store.ChunkResult
	for range n {
		select {
		case res := <-results:
			if res.Err != nil {
				_ = r.st.DiscardUpload(context.WithoutCancel(ctx), from, id)
				return "", res.Err
			}
			if res.Committed {
				last = res
			}
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	r.committed(from, last, "web")
	return id, nil
}

// Delivered records that a device has received a whole message (its
// audio was streamed to the web app), and tells its sender.
func (b *Broker) Delivered(device, id string) { b.router.delivered(device, id) }

// Played records that a device has played a message, and tells its
// sender; a message that is not the device's is store.ErrNotFound.
func (b *Broker) Played(ctx context.Context, device, id string) error {
	return b.router.played(ctx, device, id)
}
