package hub

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/toyhub/toyhub/hub/health"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// router is the hub's side of the wire protocol (see package wire). Each
// request is handled on the goroutine that reads the requesting device's
// connection, so a device's requests are handled in order and a slow
// device slows only itself. Replies to a request are written straight to
// the requester's connection; anything addressed to another device (a
// notification, a status) or produced after a group commit goes through
// the broker's per-client queue, which never blocks and may drop when
// full: devices recover anything dropped with a sync.
type router struct {
	cfg Config
	st  *store.Store
	srv *mqtt.Server
	log *slog.Logger
	ctx context.Context // cancelled when the hub stops

	mu      sync.Mutex
	uploads map[string]*upload // by sender + "/" + message ID

	// renew issues a certificate for a connected device's CSR.
	renew func(ctx context.Context, cl *mqtt.Client, dev, csrPEM string) (string, error)
	// changed tells the web app's live pages which devices changed.
	changed func(ids ...string)
	metrics *health.Counters // nil in tests of the router alone

	wasQuiet map[string]bool // per device, at the last releaseQuiet (under mu)
}

// upload is the in-memory side of a message being received.
type upload struct {
	mu   sync.Mutex // held while a header or chunk is handled
	st   *store.Upload
	hdr  wire.Header
	hash hash.Hash    // SHA-256 of chunks [0, next)
	next int          // next chunk accepted: durable or queued
	wav  wire.WAVInfo // from chunk 0

	durable atomic.Int64 // chunks known to be durable
	broken  atomic.Bool  // a queued write failed; the sender must send the header again
	touched atomic.Int64 // unix time of the last header or chunk
}

func newRouter(ctx context.Context, cfg Config, st *store.Store, srv *mqtt.Server, log *slog.Logger) *router {
	return &router{cfg: cfg, st: st, srv: srv, log: log, ctx: ctx, uploads: make(map[string]*upload), changed: func(...string) {}}
}

// handle serves one request from device dev.
func (r *router) handle(cl *mqtt.Client, dev, kind string, payload []byte) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	switch kind {
	case wire.UpHeader:
		r.onHeader(ctx, cl, dev, payload)
	case wire.UpChunk:
		r.onChunk(ctx, cl, dev, payload)
	case wire.UpSync:
		r.onSync(ctx, cl, dev, payload)
	case wire.UpFetch:
		r.onFetch(ctx, cl, dev, payload)
	case wire.UpPlayed:
		r.onPlayed(ctx, cl, dev, payload)
	case wire.UpRenew:
		r.onRenew(ctx, cl, dev, payload)
	default:
		r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{Op: kind, Status: wire.StatusRejected,
			Error: &wire.Error{Code: wire.CodeBadRequest, Message: "unknown request " + fmt.Sprintf("%.32q", kind)}}))
	}
}

// reply writes straight to the requester's connection. It blocks while the
// device does not read, which slows only that device's requests.
func (r *router) reply(cl *mqtt.Client, kind string, payload []byte) {
	err := cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   wire.DownTopic(cl.ID, kind),
		Payload:     payload,
	})
	if err != nil {
		r.log.Debug("Reply not written", "device", cl.ID, "kind", kind, "error", err)
	}
}

// send queues a message for a device if it is connected and subscribed.
func (r *router) send(dev, kind string, payload []byte) {
	_ = r.srv.Publish(wire.DownTopic(dev, kind), payload, false, 0)
}

func (r *router) online(dev string) bool {
	cl, ok := r.srv.Clients.Get(dev)
	return ok && !cl.Closed()
}

func (r *router) reject(cl *mqtt.Client, id wire.MessageID, op string, next int, code, msg string) {
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: id, Op: op, Status: wire.StatusRejected, Next: next,
		Error: &wire.Error{Code: code, Message: msg}}))
}

// refused logs a refusal that matters for security: IDs and codes only.
func (r *router) refused(what, dev string, id wire.MessageID, code string) {
	r.log.Warn("Request refused", "request", what, "device", dev, "message", id.String(), "code", code)
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

// storeFailed answers a request the store could not serve: a refusal,
// logged as such, or a storage failure, logged as an error.
func (r *router) storeFailed(cl *mqtt.Client, op, dev string, id wire.MessageID, err error) {
	code, msg := storeCode(err)
	if code == wire.CodeStorage {
		r.log.Error("Request failed", "request", op, "device", dev, "message", id.String(), "error", err)
	} else {
		r.refused(op, dev, id, code)
	}
	r.reject(cl, id, op, 0, code, msg)
}

// storeCode maps store errors to protocol errors.
func storeCode(err error) (string, string) {
	switch {
	case errors.Is(err, store.ErrNotContact):
		return wire.CodeNotContact, "a recipient is not one of this device's contacts; a parent can link them with 'toyhub link'"
	case errors.Is(err, store.ErrIDInUse):
		return wire.CodeIDInUse, "this message ID belongs to another message; choose a new random ID"
	case errors.Is(err, store.ErrMismatch):
		return wire.CodeMismatch, "the header differs from the upload already started under this ID"
	case errors.Is(err, store.ErrTooManyUpload):
		return wire.CodeLimit, "too many unfinished uploads; finish or wait for them"
	case errors.Is(err, store.ErrRateLimit):
		return wire.CodeLimit, "this device is sending too fast or too much; wait, then try again"
	case errors.Is(err, store.ErrDailyLimit):
		return wire.CodeLimit, "this device has sent its messages for today; a parent set the limit"
	case errors.Is(err, store.ErrNotFound):
		return wire.CodeUnknown, "no such message for this device"
	case errors.Is(err, store.ErrFull):
		return wire.CodeFull, "the hub's storage is full; a parent must delete old messages before new ones can be sent"
	}
	return wire.CodeStorage, "the hub could not store the message; try again later"
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
		r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusCommitted, Next: h.Chunks()}))
		return
	}
	if err := r.prepare(ctx, dev, h, up); err != nil {
		r.log.Error("Upload not resumed", "device", dev, "message", h.ID.String(), "error", err)
		r.reject(cl, h.ID, wire.OpHeader, 0, wire.CodeStorage, "the hub could not resume this upload; try again later")
		return
	}
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusAccepted, Next: up.Next}))
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
func (r *router) prepare(ctx context.Context, dev string, h wire.Header, up *store.Upload) error {
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
	if u.hash != nil && u.next == up.Next && int(u.durable.Load()) == up.Next && !u.broken.Load() {
		return nil
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
		return err
	}
	u.durable.Store(int64(u.next))
	return nil
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
		r.reject(cl, c.ID, wire.OpChunk, int(u.durable.Load()), wire.CodeStorage, "the hub could not store an earlier chunk; send the header again to resume")
		return
	}
	h := u.hdr
	seq, n := int(c.Seq), h.Chunks()
	durable := int(u.durable.Load())
	switch {
	case seq >= n || int64(c.Offset)+int64(len(c.Data)) > h.Size:
		r.refused("chunk", dev, c.ID, wire.CodeBeyondSize)
		r.reject(cl, c.ID, wire.OpChunk, u.next, wire.CodeBeyondSize,
			fmt.Sprintf("chunk %d at offset %d reaches past the declared size of %d bytes", seq, c.Offset, h.Size))
		return
	case seq < durable:
		// A retransmission of a stored chunk: acknowledge it again,
		// store nothing.
		r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: c.ID, Op: wire.OpChunk, Status: wire.StatusStored, Seq: seq, Next: durable}))
		return
	case seq < u.next:
		return // queued for the next commit; its acknowledgement follows
	case seq > u.next:
		r.reject(cl, c.ID, wire.OpChunk, u.next, wire.CodeOutOfOrder, fmt.Sprintf("expected chunk %d, got %d", u.next, seq))
		return
	}
	want := min(int64(h.Chunk), h.Size-int64(seq)*int64(h.Chunk))
	if int64(c.Offset) != int64(seq)*int64(h.Chunk) || int64(len(c.Data)) != want {
		r.reject(cl, c.ID, wire.OpChunk, u.next, wire.CodeBadChunk,
			fmt.Sprintf("chunk %d must start at %d and hold %d bytes", seq, int64(seq)*int64(h.Chunk), want))
		return
	}
	if seq == 0 {
		w, err := wire.ParseWAV(c.Data, h.Size)
		if err != nil {
			r.discard(ctx, cl, dev, c.ID, wire.CodeNotWAV, "the recording must be WAV PCM, 16-bit, mono, 8 to 48 kHz: "+err.Error())
			return
		}
		if w.Duration() > r.cfg.MaxDuration {
			r.discard(ctx, cl, dev, c.ID, wire.CodeTooLong, fmt.Sprintf("the recording lasts %v; this hub accepts at most %v", w.Duration().Round(time.Second), r.cfg.MaxDuration))
			return
		}
		u.wav = w
	}
	u.hash.Write(c.Data)
	last := seq == n-1
	if last && [32]byte(u.hash.Sum(nil)) != h.SHA256 {
		r.discard(ctx, cl, dev, c.ID, wire.CodeHashMismatch, "the bytes received do not match the SHA-256 in the header; send the message again")
		return
	}
	u.next++
	id := c.ID
	r.st.PutChunk(u.st, seq, c.Data, last, u.wav.Duration(), func(res store.ChunkResult) {
		r.chunkDone(dev, id, u, seq, n, res)
	})
}

// discard drops an upload whose content is refused.
func (r *router) discard(ctx context.Context, cl *mqtt.Client, dev string, id wire.MessageID, code, msg string) {
	r.refused("chunk", dev, id, code)
	r.forget(dev, id)
	if err := r.st.DiscardUpload(ctx, dev, id.String()); err != nil {
		r.log.Error("Upload not discarded", "device", dev, "message", id.String(), "error", err)
	}
	r.reject(cl, id, wire.OpChunk, 0, code, msg)
}

// chunkDone runs on the store's writer goroutine once a chunk is durable
// or has failed. It must not block.
func (r *router) chunkDone(dev string, id wire.MessageID, u *upload, seq, n int, res store.ChunkResult) {
	if res.Err != nil {
		u.broken.Store(true)
		r.log.Error("Chunk not stored", "device", dev, "message", id.String(), "seq", seq, "error", res.Err)
		e := &wire.Error{Code: wire.CodeStorage, Message: "the hub could not store this chunk; send the header again to resume"}
		if errors.Is(res.Err, store.ErrFull) {
			// Not worth retrying at once: the toy keeps the message and
			// tries again later, resuming where the hub stopped.
			e.Code, e.Message = storeCode(res.Err)
		}
		r.send(dev, wire.DownAck, wire.Encode(wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusRejected, Seq: seq, Next: int(u.durable.Load()), Error: e}))
		return
	}
	u.durable.Store(int64(seq + 1))
	if !res.Committed {
		r.send(dev, wire.DownAck, wire.Encode(wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusStored, Seq: seq, Next: seq + 1}))
		return
	}
	r.forget(dev, id)
	r.log.Info("Message committed", "device", dev, "message", id.String(), "bytes", u.hdr.Size, "recipients", len(res.Recipients))
	if r.metrics != nil {
		r.metrics.MessageStored(u.hdr.Size)
	}
	r.send(dev, wire.DownAck, wire.Encode(wire.Ack{ID: id, Op: wire.OpChunk, Status: wire.StatusCommitted, Seq: seq, Next: n}))
	go r.announce(id.String(), res.Recipients)
	r.changed(append([]string{dev}, res.Recipients...)...)
}

// announce notifies the connected recipients of a committed message.
func (r *router) announce(id string, recipients []string) {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	for _, rc := range recipients {
		if !r.online(rc) || r.quiet(ctx, rc) {
			continue // a toy in its quiet hours hears of it when they end
		}
		w, err := r.st.WaitingMessage(ctx, rc, id)
		if err != nil {
			r.log.Debug("Not notified", "device", rc, "message", id, "error", err)
			continue
		}
		r.send(rc, wire.DownNotify, wire.Encode(notifyOf(w)))
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

func (r *router) onSync(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	if len(b) > 0 {
		var s wire.Sync
		if err := wire.Decode(b, &s); err != nil {
			r.reject(cl, wire.MessageID{}, wire.OpSync, 0, wire.CodeBadRequest, err.Error())
			return
		}
	}
	var ws []store.Waiting
	var err error
	if !r.quiet(ctx, dev) {
		ws, err = r.st.WaitingFor(ctx, dev)
	}
	if err != nil {
		r.log.Error("Sync failed", "device", dev, "error", err)
		r.reject(cl, wire.MessageID{}, wire.OpSync, 0, wire.CodeStorage, "the hub could not read its store; try again later")
		return
	}
	for _, w := range ws {
		r.reply(cl, wire.DownNotify, wire.Encode(notifyOf(w)))
	}
	sts, err := r.st.Untold(ctx, dev)
	if err == nil {
		for _, st := range sts {
			r.reply(cl, wire.DownStatus, wire.Encode(statusOf(st)))
		}
		r.st.Told(sts)
	}
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{Op: wire.OpSync, Status: wire.StatusDone, Pending: len(ws)}))
}

func (r *router) onFetch(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var f wire.Fetch
	if err := wire.Decode(b, &f); err != nil {
		r.reject(cl, f.ID, wire.OpFetch, 0, wire.CodeBadRequest, err.Error())
		return
	}
	if r.quiet(ctx, dev) {
		r.reject(cl, f.ID, wire.OpFetch, 0, wire.CodeQuiet, "quiet hours: the message waits until they end")
		return
	}
	p, err := r.st.ReadFor(ctx, dev, f.ID.String(), f.Offset)
	if err != nil {
		r.storeFailed(cl, wire.OpFetch, dev, f.ID, err)
		return
	}
	frame := wire.AppendChunk(make([]byte, 0, wire.ChunkHeaderLen+len(p.Data)),
		wire.Chunk{ID: f.ID, Seq: uint32(p.Seq), Offset: uint32(p.Offset), Data: p.Data})
	r.reply(cl, wire.DownData, frame)
	if p.Last() {
		r.st.MarkDelivered(dev, f.ID.String(), func(st store.Status, changed bool, err error) {
			if err != nil {
				r.log.Error("Delivery not recorded", "device", dev, "message", f.ID.String(), "error", err)
			}
			if changed {
				r.tell(st)
				r.changed(st.Sender, st.Recipient)
				if r.metrics != nil {
					r.metrics.MessageDelivered()
				}
			}
		})
	}
}

func (r *router) onPlayed(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var p wire.Played
	if err := wire.Decode(b, &p); err != nil {
		r.reject(cl, p.ID, wire.OpPlayed, 0, wire.CodeBadRequest, err.Error())
		return
	}
	st, changed, err := r.st.MarkPlayed(ctx, dev, p.ID.String())
	if err != nil {
		r.storeFailed(cl, wire.OpPlayed, dev, p.ID, err)
		return
	}
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: p.ID, Op: wire.OpPlayed, Status: wire.StatusPlayed}))
	if changed {
		r.log.Info("Message played", "device", dev, "message", p.ID.String(), "sender", st.Sender)
		r.tell(st)
		r.changed(st.Sender, st.Recipient)
	}
}

// tell passes a delivery status to its sender if it is connected; if not,
// the sender gets it at its next sync.
func (r *router) tell(st store.Status) {
	if !r.online(st.Sender) {
		return
	}
	r.send(st.Sender, wire.DownStatus, wire.Encode(statusOf(st)))
	r.st.Told([]store.Status{st})
}

func (r *router) onRenew(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var req wire.Renew
	if err := wire.Decode(b, &req); err != nil {
		r.reject(cl, wire.MessageID{}, wire.OpRenew, 0, wire.CodeBadRequest, err.Error())
		return
	}
	cert, err := r.renew(ctx, cl, dev, req.CSR)
	if err != nil {
		r.log.Warn("Renewal refused", "device", dev, "error", err)
		r.reject(cl, wire.MessageID{}, wire.OpRenew, 0, wire.CodeBadRequest, err.Error())
		return
	}
	r.reply(cl, wire.DownCert, wire.Encode(wire.Certificate{Cert: cert}))
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
