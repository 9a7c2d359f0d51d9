package broker

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// upload is the in-memory side of a message being received.
type upload struct {
	mu   sync.Mutex // held while a header or chunk is handled
	st   *store.Upload
	hdr  wire.Header
	hash hash.Hash    // SHA-256 of chunks [0, next)
	next int          // next chunk accepted: durable or queued
	wav  wire.WAVInfo // from chunk 0
	// attempt numbers the header accepted last: every answer about this
	// upload carries it, so a device can tell answers to an earlier try.
	attempt uint32
	// batch: the device asked for one answer per commit (wire.Header.Batch)
	// in the header accepted last.
	batch atomic.Bool

	durable atomic.Int64 // chunks known to be durable
	broken  atomic.Bool  // a queued write failed; the sender must send the header again
	touched atomic.Int64 // unix time of the last header or chunk
}

func key(dev string, id wire.MessageID) string { return dev + "/" + id.String() }

func (r *router) lookup(dev string, id wire.MessageID) *upload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uploads[key(dev, id)]
}

func (r *router) forget(dev string, id wire.MessageID) {
	r.mu.Lock()
	delete(r.uploads, key(dev, id))
	r.mu.Unlock()
}

// disconnected releases what a device's unfinished uploads hold in memory
// for the hot cache: an upload may never be finished, and its running hash
// is all a resume needs.
func (r *router) disconnected(dev string) {
	r.mu.Lock()
	var ups []*upload
	for k, u := range r.uploads {
		if strings.HasPrefix(k, dev+"/") {
			ups = append(ups, u)
		}
	}
	r.mu.Unlock()
	for _, u := range ups {
		u.mu.Lock()
		if u.st != nil {
			u.st.DropBuffered()
		}
		u.mu.Unlock()
	}
}

// sweep forgets uploads untouched since before; the store drops their
// rows at the same age.
func (r *router) sweep(before time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, u := range r.uploads {
		if u.touched.Load() < before.Unix() {
			delete(r.uploads, k)
			n++
		}
	}
	return n
}

func (r *router) onHeader(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var h wire.Header
	if err := wire.Decode(b, &h); err != nil {
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeBadRequest, err.Error())
		return
	}
	if err := h.Check(); err != nil {
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeBadHeader, err.Error())
		return
	}
	if h.Size > r.cfg.MaxMessageBytes {
		r.refused("header", dev, h.ID, wire.CodeTooLarge)
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeTooLarge,
			fmt.Sprintf("the recording is %d bytes; this hub accepts at most %d", h.Size, r.cfg.MaxMessageBytes))
		return
	}
	if h.Chunk > r.cfg.MaxChunk {
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeBadHeader, fmt.Sprintf("chunk size %d is above this hub's limit of %d", h.Chunk, r.cfg.MaxChunk))
		return
	}
	to, err := r.resolve(ctx, h.To)
	if err == nil {
		var up *store.Upload
		up, err = r.st.StartUpload(ctx, store.UploadSpec{
			ID: h.ID.String(), Sender: dev, To: to, Format: h.Format, Size: h.Size, SHA256: h.SHA256, ChunkSize: h.Chunk,
		})
		if err == nil && up.Evicted != "" {
			if old, perr := wire.ParseMessageID(up.Evicted); perr == nil {
				r.forget(dev, old)
			}
			r.log.Info("Unfinished upload dropped for a newer one", "device", dev, "message", up.Evicted)
		}
		if err == nil {
			r.started(ctx, cl, dev, h, up)
			return
		}
	}
	r.storeFailed(cl, wire.OpHeader, dev, h.ID, err)
}

// started answers a header the store accepted: the message is committed
// already, or its upload is ready to take chunks from Next on.
func (r *router) started(ctx context.Context, cl *mqtt.Client, dev string, h wire.Header, up *store.Upload) {
	if up.Committed {
		r.forget(dev, h.ID)
		r.answer(dev, wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusCommitted, Next: h.Chunks()})
		return
	}
	attempt, err := r.prepare(ctx, dev, h, up)
	if err != nil {
		r.log.Error("Upload not resumed", "device", dev, "message", h.ID.String(), "error", err)
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeStorage, "the hub could not resume this upload; try again later")
		return
	}
	r.answer(dev, wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusAccepted, Next: up.Next, Attempt: attempt})
}

// resolve turns recipients given by name or ID into device IDs. Unknown
// names give ErrNotContact, as unlinked devices do, so that a device
// cannot probe which names exist.
func (r *router) resolve(ctx context.Context, to []string) ([]string, error) {
	var ids []string
	for _, t := range to {
		if wire.ValidDeviceID(t) {
			ids = append(ids, t)
			continue
		}
		d, err := r.st.DeviceByName(ctx, t)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, store.ErrNotContact
			}
			return nil, err
		}
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// prepare sets up (or reconciles) the in-memory state of an upload with
// what the database holds durably. The running hash is kept when it
// covers exactly the stored chunks, and rebuilt from them otherwise (after
// a restart, or after a failed write).
func (r *router) prepare(ctx context.Context, dev string, h wire.Header, up *store.Upload) (uint32, error) {
	k := key(dev, h.ID)
	r.mu.Lock()
	u := r.uploads[k]
	if u == nil {
		u = &upload{}
		r.uploads[k] = u
	}
	r.mu.Unlock()

	u.mu.Lock()
	defer u.mu.Unlock()
	u.touched.Store(r.cfg.Now().Unix())
	u.st, u.hdr = up, h
	u.batch.Store(h.Batch)
	u.attempt = r.attempts.Add(1)
	if u.hash != nil && u.next == up.Next && int(u.durable.Load()) == up.Next && !u.broken.Load() {
		return u.attempt, nil
	}
	u.hash, u.next, u.wav = sha256.New(), 0, wire.WAVInfo{}
	u.broken.Store(false)
	err := r.st.ReadUpload(ctx, up, func(seq int, data []byte) error {
		if seq == 0 {
			w, err := wire.ParseWAV(data, h.Size)
			if err != nil {
				return err
			}
			u.wav = w
		}
		u.hash.Write(data)
		u.next++
		return nil
	})
	if err != nil {
		r.forget(dev, h.ID)
		return 0, err
	}
	u.durable.Store(int64(u.next))
	return u.attempt, nil
}

// onCancel drops a sender's unfinished upload, in its order among the
// upload's answers; a committed message stays.
func (r *router) onCancel(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var c wire.Cancel
	if err := wire.Decode(b, &c); err != nil {
		r.reject(cl, c.ID, wire.OpCancel, 0, wire.CodeBadRequest, err.Error())
		return
	}
	if u := r.lookup(dev, c.ID); u != nil {
		u.mu.Lock() // no chunk of it is being handled
		defer u.mu.Unlock()
	}
	r.forget(dev, c.ID)
	if err := r.st.DiscardUpload(ctx, dev, c.ID.String()); err != nil {
		r.storeFailed(cl, wire.OpCancel, dev, c.ID, err)
		return
	}
	r.answer(dev, wire.Ack{ID: c.ID, Op: wire.OpCancel, Status: wire.StatusCancelled})
}

func (r *router) onChunk(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	c, err := wire.DecodeChunk(b)
	if err != nil {
		r.reject(cl, c.ID, wire.OpChunk, 0, wire.CodeBadRequest, err.Error())
		return
	}
	u := r.lookup(dev, c.ID)
	if u == nil {
		r.reject(cl, c.ID, wire.OpChunk, 0, wire.CodeUnknown, "no upload in progress under this ID; send its header first")
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.touched.Store(r.cfg.Now().Unix())
	if u.broken.Load() {
		r.forget(dev, c.ID)
		r.rejectIn(cl, c.ID, wire.OpChunk, u.attempt, int(u.durable.Load()), wire.CodeStorage, "the hub could not store an earlier chunk; send the header again to resume")
		return
	}
	h := u.hdr
	seq, n := int(c.Seq), h.Chunks()
	durable := int(u.durable.Load())
	switch {
	case seq >= n || int64(c.Offset)+int64(len(c.Data)) > h.Size:
		r.refused("chunk", dev, c.ID, wire.CodeBeyondSize)
		r.rejectIn(cl, c.ID, wire.OpChunk, u.attempt, u.next, wire.CodeBeyondSize,
			fmt.Sprintf("chunk %d at offset %d reaches past the declared size of %d bytes", seq, c.Offset, h.Size))
		return
	case seq < durable:
		// A retransmission of a stored chunk: acknowledge it again,
		// store nothing.
		r.answer(dev, wire.Ack{ID: c.ID, Op: wire.OpChunk, Status: wire.StatusStored, Seq: seq, Next: durable, Attempt: u.attempt})
		return
	case seq < u.next:
		return // queued for the next commit; its acknowledgement follows
	case seq > u.next:
		r.rejectIn(cl, c.ID, wire.OpChunk, u.attempt, u.next, wire.CodeOutOfOrder, fmt.Sprintf("expected chunk %d, got %d", u.next, seq))
		return
	}
	want := min(int64(h.Chunk), h.Size-int64(seq)*int64(h.Chunk))
	if int64(c.Offset) != int64(seq)*int64(h.Chunk) || int64(len(c.Data)) != want {
		r.rejectIn(cl, c.ID, wire.OpChunk, u.attempt, u.next, wire.CodeBadChunk,
			fmt.Sprintf("chunk %d must start at %d and hold %d bytes", seq, int64(seq)*int64(h.Chunk), want))
		return
	}
	if seq == 0 {
		w, code, msg := r.checkRecording(c.Data, h.Size)
		if code != "" {
			r.discard(ctx, cl, dev, c.ID, u.attempt, code, msg)
			return
		}
		u.wav = w
	}
	u.hash.Write(c.Data)
	last := seq == n-1
	if last && [32]byte(u.hash.Sum(nil)) != h.SHA256 {
		r.discard(ctx, cl, dev, c.ID, u.attempt, wire.CodeHashMismatch, "the bytes received do not match the SHA-256 in the header; send the message again")
		return
	}
	u.next++
	id, attempt := c.ID, u.attempt
	r.st.PutChunk(u.st, seq, c.Data, last, u.wav.Duration(), func(res store.ChunkResult) {
		r.chunkDone(dev, id, u, attempt, seq, n, res)
	})
}

// discard drops an upload whose content is refused. The store's writer
// runs the deletion after every chunk queued before it, whose answers are
// therefore on their way before the rejection.
func (r *router) discard(ctx context.Context, cl *mqtt.Client, dev string, id wire.MessageID, attempt uint32, code, msg string) {
	r.refused("chunk", dev, id, code)
	r.forget(dev, id)
	if err := r.st.DiscardUpload(ctx, dev, id.String()); err != nil {
		r.log.Error("Upload not discarded", "device", dev, "message", id.String(), "error", err)
	}
	r.rejectIn(cl, id, wire.OpChunk, attempt, 0, code, msg)
}

// chunkDone runs on the store's writer goroutine once a chunk is durable
// or has failed. It must not block.
func (r *router) chunkDone(dev string, id wire.MessageID, u *upload, attempt uint32, seq, n int, res store.ChunkResult) {
	if res.Err != nil {
		u.broken.Store(true)
		r.log.Error("Chunk not stored", "device", dev, "message", id.String(), "seq", seq, "error", res.Err)
		e := &wire.Error{Code: wire.CodeStorage, Message: "the hub could not store this chunk; send the header again to resume"}
		if errors.Is(res.Err, store.ErrFull) {
			// Not worth retrying at once: the toy keeps the message and
			// tries again later, resuming where the hub stopped.
			e.Code, e.Message = storeCode(res.Err)
		}
		r.answer(dev, wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusRejected, Seq: seq, Next: int(u.durable.Load()), Attempt: attempt, Error: e})
		return
	}
	u.durable.Store(int64(seq + 1))
	if !res.Committed && res.More && u.batch.Load() {
		return // the answer to the upload's last chunk in this commit covers it
	}
	if !res.Committed {
		r.answer(dev, wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusStored, Seq: seq, Next: seq + 1, Attempt: attempt})
		return
	}
	r.forget(dev, id)
	r.answer(dev, wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusCommitted, Seq: seq, Next: n, Attempt: attempt})
	r.committed(dev, res, "mqtt")
}
