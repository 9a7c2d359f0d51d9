package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

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

	renewer Renewer
	live    Live
	metrics Metrics

	wasQuiet map[string]bool // per device, at the last releaseQuiet (under mu)

	attempts atomic.Uint32 // the last upload attempt numbered (see wire.Ack.Attempt)
}

// frames are the buffers fetch answers are built in: a frame's header and
// the largest chunk.
var frames = sync.Pool{New: func() any {
	b := make([]byte, 0, wire.ChunkHeaderLen+wire.MaxChunk)
	return &b
}}

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
	case wire.UpCancel:
		r.onCancel(ctx, cl, dev, payload)
	case wire.UpHeard:
		r.onHeard(ctx, cl, dev, payload)
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

// answer answers a request about an upload (its header or a chunk). All
// of an upload's answers take the device's queue (send), as the chunks'
// "stored" do once the store's writer has them durable, so they leave in
// the order they were made: a rejection that ends an upload never
// overtakes the answers to its earlier chunks. Replies written at once
// (reply) could.
func (r *router) answer(dev string, a wire.Ack) {
	r.send(dev, wire.DownAck, wire.Encode(a))
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

// rejectIn is a rejection within an upload attempt, in its order.
func (r *router) rejectIn(cl *mqtt.Client, id wire.MessageID, op string, attempt uint32, next int, code, msg string) {
	r.answer(cl.ID, wire.Ack{ID: id, Op: op, Status: wire.StatusRejected, Next: next, Attempt: attempt, Error: &wire.Error{Code: code, Message: msg}})
}

// refused logs a refusal that matters for security: IDs and codes only.
func (r *router) refused(what, dev string, id wire.MessageID, code string) {
	r.log.Warn("Request refused", "request", what, "device", dev, "message", id.String(), "code", code)
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
	case errors.Is(err, store.ErrPastEnd):
		return wire.CodeBeyondSize, "the offset is at or past the end of the message: it is all there already"
	case errors.Is(err, store.ErrMismatch):
		return wire.CodeMismatch, "the header differs from the upload already started under this ID"
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
	// Every status the device has not said it heard, again at each sync.
	sts, err := r.st.Untold(ctx, dev)
	if err == nil {
		for _, st := range sts {
			r.reply(cl, wire.DownStatus, wire.Encode(statusOf(st)))
		}
	}
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{Op: wire.OpSync, Status: wire.StatusDone, Pending: len(ws)}))
}

func (r *router) onFetch(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var f wire.Fetch
	if err := wire.Decode(b, &f); err != nil {
		r.reject(cl, f.ID, wire.OpFetch, 0, wire.CodeBadRequest, err.Error())
		return
	}
	if f.Offset < 0 || f.Max < 0 || f.Count < 0 || f.Count > fetchWindow {
		r.reject(cl, f.ID, wire.OpFetch, 0, wire.CodeBadRequest, fmt.Sprintf("offset %d, max %d, count %d: a fetch starts at 0 or later, asks for 1 byte or more, and for at most %d pieces", f.Offset, f.Max, f.Count, fetchWindow))
		return
	}
	if r.quiet(ctx, dev) {
		r.reject(cl, f.ID, wire.OpFetch, 0, wire.CodeQuiet, "quiet hours: the message waits until they end")
		return
	}
	// Each piece is opened straight after room for the frame's header, in
	// a buffer used again once the reply is written (WritePacket copies
	// it): no 32 KiB allocation and copy for each piece.
	buf := frames.Get().(*[]byte)
	defer frames.Put(buf)
	off := f.Offset
	for range max(f.Count, 1) {
		p, frame, err := r.st.AppendFor(ctx, (*buf)[:wire.ChunkHeaderLen], dev, f.ID.String(), off)
		if err != nil {
			r.storeFailed(cl, wire.OpFetch, dev, f.ID, err)
			return
		}
		if f.Max > 0 && len(p.Data) > f.Max {
			p.Data = p.Data[:f.Max]
			frame = frame[:wire.ChunkHeaderLen+f.Max]
		}
		wire.AppendChunk(frame[:0], wire.Chunk{ID: f.ID, Seq: uint32(p.Seq), Offset: uint32(p.Offset)}) // the header, in place
		r.reply(cl, wire.DownData, frame)
		if p.Last() {
			r.delivered(dev, f.ID.String())
			return // a count beyond the end asks for no more
		}
		off = p.Offset + int64(len(p.Data))
	}
}

func (r *router) onPlayed(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var p wire.Played
	if err := wire.Decode(b, &p); err != nil {
		r.reject(cl, p.ID, wire.OpPlayed, 0, wire.CodeBadRequest, err.Error())
		return
	}
	if err := r.played(ctx, dev, p.ID.String()); err != nil {
		r.storeFailed(cl, wire.OpPlayed, dev, p.ID, err)
		return
	}
	r.reply(cl, wire.DownAck, wire.Encode(wire.Ack{ID: p.ID, Op: wire.OpPlayed, Status: wire.StatusPlayed}))
}

// onHeard records that a sender heard a status, so that its syncs stop
// repeating it. Only a refusal is answered.
func (r *router) onHeard(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var h wire.Heard
	if err := wire.Decode(b, &h); err != nil {
		r.reject(cl, h.ID, wire.OpHeard, 0, wire.CodeBadRequest, err.Error())
		return
	}
	st := store.Status{MessageID: h.ID.String(), Recipient: h.To, State: h.State}
	if err := r.st.Heard(ctx, dev, st); err != nil {
		r.storeFailed(cl, wire.OpHeard, dev, h.ID, err)
	}
}

func (r *router) onRenew(ctx context.Context, cl *mqtt.Client, dev string, b []byte) {
	var req wire.Renew
	if err := wire.Decode(b, &req); err != nil {
		r.reject(cl, wire.MessageID{}, wire.OpRenew, 0, wire.CodeBadRequest, err.Error())
		return
	}
	var key any
	if tc, ok := cl.Net.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok && len(tc.ConnectionState().PeerCertificates) > 0 {
		key = tc.ConnectionState().PeerCertificates[0].PublicKey
	}
	cert, err := r.renewer.Renew(ctx, dev, key, req.CSR)
	if err != nil {
		r.log.Warn("Renewal refused", "device", dev, "error", err)
		r.reject(cl, wire.MessageID{}, wire.OpRenew, 0, wire.CodeBadRequest, err.Error())
		return
	}
	r.reply(cl, wire.DownCert, wire.Encode(wire.Certificate{Cert: cert}))
}

func newRouter(ctx context.Context, cfg Config, st *store.Store, srv *mqtt.Server, log *slog.Logger, renewer Renewer, live Live, metrics Metrics) *router {
	r := &router{cfg: cfg, st: st, srv: srv, log: log, ctx: ctx, uploads: make(map[string]*upload), renewer: renewer, live: live, metrics: metrics}
	// A random start: numbers from before a restart are not reused soon.
	r.attempts.Store(mrand.Uint32())
	return r
}

// Windows the hub states to devices: how many chunks, and how many
// fetches, one device may have in flight.
const (
	uploadWindow = 16
	fetchWindow  = 16
)

// limits are what this hub allows a device (wire.Limits).
func (r *router) limits() wire.Limits {
	return wire.Limits{Chunk: r.cfg.MaxChunk, UploadWindow: uploadWindow, FetchWindow: fetchWindow, RetryMS: 10000,
		MaxBytes: r.cfg.MaxMessageBytes, MaxSeconds: int(r.cfg.MaxDuration / time.Second), KeepaliveS: 30, Batch: true}
}
