package conformance

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// engine is the kit's hub: it answers the device as docs/protocol.md
// says, except where a fault says otherwise, and notes what the device
// did. Only the goroutine running the scenarios uses it.
type engine struct {
	k        *Kit
	inbox    map[wire.MessageID]*outMsg // messages for the device
	statuses map[wire.MessageID]wire.Status
	uploads  map[wire.MessageID]*upload
	attempts uint32
	f        faults
	o        *obs
	sender   string // the device ID the kit's messages come from

	later chan delayed // answers held back (faults.ackDelay), in order
	sent  sync.Mutex   // guards answered, counted as answers leave
	// answered counts answers to chunks and fetches as they leave, and
	// asked the chunks and fetches that came, so that what the device has
	// in flight can be told.
	answered, asked int
}

type outMsg struct {
	data  []byte
	sha   wire.Digest // as announced
	chunk int
	quiet bool
	// quietAtFetch: the quiet hours begin at the first fetch
	quietAtFetch bool
	gone         bool
	played       bool
	extra        bool // the Notify carries a field v1 does not define
	served       int  // data frames sent
	dropAt       int  // drop the connection instead of serving this frame (1-based); 0 never
	covered      int64
}

type upload struct {
	h         wire.Header
	next      int
	data      []byte
	attempt   uint32
	committed bool
	stored    int // "stored" answers in this upload
	sentMax   int // the highest chunk the device sent in this attempt
	// unanswered: a chunk stored but not yet answered, with Batch (0 or 1)
	unanswered int
	resumed    int // next, as told to a resumed header; -1 before
}

// faults are the kit's misbehaviour in the current scenario.
type faults struct {
	ackDelay     time.Duration // hold every answer about an upload this long
	reverse      bool          // answer chunks in pairs, the second first
	dropAfter    int           // drop the connection after this many "stored" answers
	stale        bool          // after accepting a header, send an answer of an earlier attempt
	refuseHeader string        // answer the next header with this code
	refuseFirst  string        // answer the next chunk 0 with this code, dropping the upload
	refuseLast   string        // answer the next last chunk with this code, dropping the upload
	refuseSecond string        // answer the next chunk 1 with this code, keeping the upload
	held         *wire.Ack     // reverse: the answer waiting for the next
}

// obs is what the device did in the current scenario.
type obs struct {
	headers     []wire.Header
	chunks      int
	maxChunk    int
	fetches     map[wire.MessageID]int
	connects    []string
	resumedSeq  int // first chunk after a resumed header; -1 none
	resumedNext int // the next told to the resumed header
	problems    []string
	over        []string // limits not kept
	renewed     bool
	subscribed  bool
}

type delayed struct {
	at      time.Time
	kind    string
	payload []byte
	counts  int
}

func newEngine(k *Kit) *engine {
	e := &engine{k: k, inbox: map[wire.MessageID]*outMsg{}, statuses: map[wire.MessageID]wire.Status{},
		uploads: map[wire.MessageID]*upload{}, sender: wire.NewDeviceID(), later: make(chan delayed, 1024)}
	e.attempts = uint32(time.Now().UnixNano()%1000) + 100
	e.reset()
	go e.delayer()
	return e
}

// reset starts a scenario: no faults, nothing seen.
func (e *engine) reset() {
	e.f = faults{}
	e.o = &obs{fetches: map[wire.MessageID]int{}, resumedSeq: -1}
}

// problem notes something the device got wrong.
func (e *engine) problem(format string, args ...any) {
	e.o.problems = note(e.o.problems, fmt.Sprintf(format, args...))
}

// over notes a limit the device did not keep to; only the scenarios about
// limits judge these.
func (e *engine) over(format string, args ...any) {
	e.o.over = note(e.o.over, fmt.Sprintf(format, args...))
}

func note(list []string, msg string) []string {
	if slices.Contains(list, msg) {
		return list
	}
	return append(list, msg)
}

// delayer publishes held answers in the order they were held.
func (e *engine) delayer() {
	for d := range e.later {
		time.Sleep(time.Until(d.at))
		e.out(d.kind, d.payload, d.counts)
	}
}

// out publishes now; counts is how many chunks or fetches the message
// answers.
func (e *engine) out(kind string, payload []byte, counts int) {
	if counts > 0 {
		e.sent.Lock()
		e.answered += counts
		e.sent.Unlock()
	}
	e.k.publish(kind, payload)
}

// ask counts n chunks or fetches, and returns how many are now in flight.
func (e *engine) ask(n int) int {
	e.asked += n
	e.sent.Lock()
	defer e.sent.Unlock()
	return e.asked - e.answered
}

// lost forgets what was in flight on a connection that ended.
func (e *engine) lost() {
	e.sent.Lock()
	e.asked = e.answered
	e.sent.Unlock()
}

// answer sends an answer about an upload, held back if the fault says so.
func (e *engine) answer(a wire.Ack, counts int) {
	if e.f.ackDelay > 0 {
		e.later <- delayed{at: time.Now().Add(e.f.ackDelay), kind: wire.DownAck, payload: wire.Encode(a), counts: counts}
		return
	}
	e.out(wire.DownAck, wire.Encode(a), counts)
}

func reject(id wire.MessageID, op, code string, next int, attempt uint32) wire.Ack {
	return wire.Ack{ID: id, Op: op, Status: wire.StatusRejected, Next: next, Attempt: attempt,
		Error: &wire.Error{Code: code, Message: "refused by the conformance kit: " + code}}
}

// handle answers one thing the device did.
func (e *engine) handle(ev event) {
	switch ev.kind {
	case evConnect:
		e.o.connects = append(e.o.connects, string(ev.payload))
		e.lost()
	case evSubscribe:
		e.o.subscribed = true
	case wire.UpSync:
		e.onSync()
	case wire.UpFetch:
		e.onFetch(ev.payload)
	case wire.UpPlayed:
		var p wire.Played
		if err := wire.Decode(ev.payload, &p); err != nil {
			e.problem("a played that does not decode: %v", err)
			e.out(wire.DownAck, wire.Encode(reject(p.ID, wire.OpPlayed, wire.CodeBadRequest, 0, 0)), 0)
			return
		}
		if m := e.inbox[p.ID]; m != nil {
			m.played = true
		}
		e.out(wire.DownAck, wire.Encode(wire.Ack{ID: p.ID, Op: wire.OpPlayed, Status: wire.StatusPlayed}), 0)
	case wire.UpHeard:
		var h wire.Heard
		if err := wire.Decode(ev.payload, &h); err != nil {
			e.problem("a heard that does not decode: %v", err)
			e.out(wire.DownAck, wire.Encode(reject(h.ID, wire.OpHeard, wire.CodeBadRequest, 0, 0)), 0)
			return
		}
		if st, ok := e.statuses[h.ID]; ok && st.To == h.To && st.State == h.State {
			delete(e.statuses, h.ID)
		}
	case wire.UpRenew:
		e.onRenew(ev.payload)
	case wire.UpHeader:
		e.onHeader(ev.payload)
	case wire.UpChunk:
		e.onChunk(ev.payload)
	case wire.UpCancel:
		var c wire.Cancel
		if wire.Decode(ev.payload, &c) == nil {
			delete(e.uploads, c.ID)
			e.out(wire.DownAck, wire.Encode(wire.Ack{ID: c.ID, Op: wire.OpCancel, Status: wire.StatusCancelled}), 0)
		}
	}
}

func (e *engine) notify(id wire.MessageID, m *outMsg) {
	n := wire.Notify{ID: id, From: e.sender, FromName: "Conformance", Format: wire.FormatWAV, Size: int64(len(m.data)),
		SHA256: m.sha, Chunk: m.chunk, SentAt: time.Now().Unix()}
	b := wire.Encode(n)
	if m.extra {
		var obj map[string]any
		_ = json.Unmarshal(b, &obj)
		obj["mood"] = "a field of a later v1" // devices ignore fields they do not know
		b, _ = json.Marshal(obj)
	}
	e.out(wire.DownNotify, b, 0)
}

func (e *engine) onSync() {
	pending := 0
	for id, m := range e.inbox {
		if !m.played && !m.gone && !m.quiet {
			e.notify(id, m)
			pending++
		}
	}
	for _, st := range e.statuses {
		e.out(wire.DownStatus, wire.Encode(st), 0)
	}
	e.out(wire.DownAck, wire.Encode(wire.Ack{Op: wire.OpSync, Status: wire.StatusDone, Pending: pending}), 0)
}

func (e *engine) onFetch(b []byte) {
	var f wire.Fetch
	if err := wire.Decode(b, &f); err != nil {
		e.problem("a fetch that does not decode: %v", err)
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeBadRequest, 0, 0)), 1)
		return
	}
	e.o.fetches[f.ID]++
	if f.Count < 0 || f.Count > e.k.limits().FetchWindow {
		e.problem("a fetch with count %d, outside 0 to the fetch window of %d it was told", f.Count, e.k.limits().FetchWindow)
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeBadRequest, 0, 0)), 1)
		return
	}
	pieces := max(f.Count, 1)
	if n := e.ask(pieces); n > e.k.limits().FetchWindow {
		e.over("%d fetches in flight, above the window of %d it was told", n, e.k.limits().FetchWindow)
	}
	// A refusal answers every piece the fetch asked for.
	m := e.inbox[f.ID]
	if m != nil && m.quietAtFetch {
		m.quiet, m.quietAtFetch = true, false
	}
	switch {
	case m == nil || m.gone:
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeUnknown, 0, 0)), pieces)
		return
	case m.quiet:
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeQuiet, 0, 0)), pieces)
		return
	case f.Offset < 0 || f.Max < 0:
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeBadRequest, 0, 0)), pieces)
		return
	case f.Offset >= int64(len(m.data)):
		e.out(wire.DownAck, wire.Encode(reject(f.ID, wire.OpFetch, wire.CodeBeyondSize, 0, 0)), pieces)
		return
	}
	// A fetch with a count is served as that many fetches in a row,
	// stopping at the end of the message.
	off := f.Offset
	for i := range pieces {
		if m.dropAt > 0 && m.served+1 == m.dropAt {
			m.dropAt = 0
			e.k.drop()
			e.lost()
			return
		}
		seq := int(off) / m.chunk
		end := min((seq+1)*m.chunk, len(m.data))
		data := m.data[off:end]
		if f.Max > 0 && len(data) > f.Max {
			data = data[:f.Max]
		}
		m.served++
		m.covered = max(m.covered, off+int64(len(data)))
		last := off+int64(len(data)) == int64(len(m.data))
		counts := 1
		if last {
			counts = pieces - i // pieces asked for past the end are answered too
		}
		e.out(wire.DownData, wire.AppendChunk(nil, wire.Chunk{ID: f.ID, Seq: uint32(seq), Offset: uint32(off), Data: data}), counts)
		if last {
			return
		}
		off += int64(len(data))
	}
}

func (e *engine) onRenew(b []byte) {
	var r wire.Renew
	if err := wire.Decode(b, &r); err != nil {
		e.out(wire.DownAck, wire.Encode(reject(wire.MessageID{}, wire.OpRenew, wire.CodeBadRequest, 0, 0)), 0)
		return
	}
	csr, err := certs.ParseCSR([]byte(r.CSR))
	if err != nil || !e.k.sameKey(csr) {
		e.problem("a renewal whose CSR is not for the device's own key")
		e.out(wire.DownAck, wire.Encode(reject(wire.MessageID{}, wire.OpRenew, wire.CodeBadRequest, 0, 0)), 0)
		return
	}
	iss, err := e.k.ca.IssueClient(csr.PublicKey, e.k.device, 30*24*time.Hour, time.Now())
	if err != nil {
		e.out(wire.DownAck, wire.Encode(reject(wire.MessageID{}, wire.OpRenew, wire.CodeStorage, 0, 0)), 0)
		return
	}
	e.k.mu.Lock()
	e.k.serials[iss.Serial] = true
	e.k.mu.Unlock()
	e.o.renewed = true
	e.out(wire.DownCert, wire.Encode(wire.Certificate{Cert: string(iss.PEM)}), 0)
}

func (e *engine) onHeader(b []byte) {
	var h wire.Header
	if err := wire.Decode(b, &h); err != nil {
		e.problem("a header that does not decode: %v", err)
		e.answer(reject(h.ID, wire.OpHeader, wire.CodeBadRequest, 0, 0), 0)
		return
	}
	e.o.headers = append(e.o.headers, h)
	if err := h.Check(); err != nil {
		e.problem("a header the hub would refuse: %v", err)
		e.answer(reject(h.ID, wire.OpHeader, wire.CodeBadHeader, 0, 0), 0)
		return
	}
	if h.Chunk > e.k.limits().Chunk {
		e.over("chunks of %d bytes, above the %d it was told", h.Chunk, e.k.limits().Chunk)
	}
	if code := e.f.refuseHeader; code != "" {
		e.f.refuseHeader = ""
		e.answer(reject(h.ID, wire.OpHeader, code, 0, 0), 0)
		return
	}
	u := e.uploads[h.ID]
	if u != nil && u.committed {
		e.answer(wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusCommitted, Next: h.Chunks()}, 0)
		return
	}
	if u == nil || u.h.Size != h.Size || u.h.SHA256 != h.SHA256 || u.h.Chunk != h.Chunk {
		u = &upload{h: h, resumed: -1}
		e.uploads[h.ID] = u
	} else {
		u.resumed = u.next
		e.o.resumedSeq, e.o.resumedNext = -1, u.next
	}
	e.attempts++
	// The answer's next covers a chunk held unanswered (Batch): it is no
	// longer in flight.
	held := u.unanswered
	u.attempt, u.sentMax, u.unanswered = e.attempts, u.next-1, 0
	e.answer(wire.Ack{ID: h.ID, Op: wire.OpHeader, Status: wire.StatusAccepted, Next: u.next, Attempt: u.attempt}, held)
	if e.f.stale && h.Chunks() > 2 {
		e.f.stale = false
		// An answer about this upload, from an attempt before this one,
		// saying that all but the last chunk are stored.
		e.answer(wire.Ack{ID: h.ID, Op: wire.OpChunk, Status: wire.StatusStored, Seq: h.Chunks() - 2, Next: h.Chunks() - 1, Attempt: u.attempt - 1}, 0)
	}
}

func (e *engine) onChunk(b []byte) {
	c, err := wire.DecodeChunk(b)
	if err != nil {
		e.problem("a chunk frame that does not decode: %v", err)
		e.answer(reject(wire.MessageID{}, wire.OpChunk, wire.CodeBadRequest, 0, 0), 1)
		return
	}
	e.o.chunks++
	e.o.maxChunk = max(e.o.maxChunk, len(c.Data))
	if n := e.ask(1); n > e.k.limits().UploadWindow {
		e.over("%d chunks in flight, above the window of %d it was told", n, e.k.limits().UploadWindow)
	}
	if len(c.Data) > e.k.limits().Chunk {
		e.over("a chunk of %d bytes, above the %d it was told", len(c.Data), e.k.limits().Chunk)
	}
	u := e.uploads[c.ID]
	if u == nil {
		e.answer(reject(c.ID, wire.OpChunk, wire.CodeUnknown, 0, 0), 1)
		return
	}
	seq := int(c.Seq)
	if u.resumed >= 0 && e.o.resumedSeq < 0 {
		e.o.resumedSeq = seq
	}
	// A chunk beyond the next after the highest sent is one the device
	// jumped to: chunks before it were never sent in this attempt.
	if seq > u.sentMax+1 {
		e.problem("skipped from chunk %d to chunk %d", u.sentMax+1, seq)
	}
	u.sentMax = max(u.sentMax, seq)
	if seq != u.next || int(c.Offset) != seq*u.h.Chunk {
		e.answer(reject(c.ID, wire.OpChunk, wire.CodeOutOfOrder, u.next, u.attempt), u.settle())
		return
	}
	if code := e.f.refuseFirst; code != "" && seq == 0 {
		e.f.refuseFirst = ""
		delete(e.uploads, c.ID)
		e.answer(reject(c.ID, wire.OpChunk, code, 0, u.attempt), u.settle())
		return
	}
	if code := e.f.refuseSecond; code != "" && seq == 1 {
		e.f.refuseSecond = ""
		e.answer(reject(c.ID, wire.OpChunk, code, u.next, u.attempt), u.settle())
		return
	}
	u.data = append(u.data, c.Data...)
	u.next++
	if u.next == u.h.Chunks() {
		if code := e.f.refuseLast; code != "" || sha256.Sum256(u.data) != u.h.SHA256 {
			if code == "" {
				code = wire.CodeHashMismatch
				e.problem("sent bytes that do not match its SHA-256")
			}
			e.f.refuseLast = ""
			delete(e.uploads, c.ID)
			e.flushHeld()
			e.answer(reject(c.ID, wire.OpChunk, code, 0, u.attempt), u.settle())
			return
		}
		u.committed = true
		e.flushHeld()
		e.answer(wire.Ack{ID: c.ID, Op: wire.OpChunk, Status: wire.StatusCommitted, Seq: seq, Next: u.next, Attempt: u.attempt}, u.settle())
		return
	}
	if u.h.Batch && !e.f.reverse && u.unanswered == 0 && seq%2 == 0 {
		// Asked for answers per commit: the kit answers every second
		// chunk, the answer covering both, so that a device counting
		// answers rather than following next is caught.
		u.unanswered = 1
		return
	}
	a := wire.Ack{ID: c.ID, Op: wire.OpChunk, Status: wire.StatusStored, Seq: seq, Next: u.next, Attempt: u.attempt}
	covers := u.settle()
	u.stored++
	if e.f.reverse {
		if e.f.held == nil {
			e.f.held = &a
			return
		}
		e.answer(a, 1)
		e.flushHeld()
	} else {
		e.answer(a, covers)
	}
	if e.f.dropAfter > 0 && u.stored == e.f.dropAfter {
		e.f.dropAfter = 0
		e.k.drop()
		e.lost()
	}
}

// settle is how many chunks an answer about u covers: the one it names,
// and one held unanswered (Batch).
func (u *upload) settle() int {
	n := 1 + u.unanswered
	u.unanswered = 0
	return n
}

func (e *engine) flushHeld() {
	if e.f.held != nil {
		e.answer(*e.f.held, 1)
		e.f.held = nil
	}
}
