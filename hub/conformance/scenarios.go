package conformance

import (
	"fmt"
	"time"

	"github.com/toyhub/toyhub/wire"
)

func scenarios() []scenario {
	list := []scenario{
		{"connects and subscribes", connects},
		{"renews its certificate in time", renews},
		{"receives, ignoring a field it does not know", receives},
		{"resumes a fetch after a dropped connection", fetchDropped},
		{"refuses bytes that do not match the SHA-256", corrupt},
		{"waits out quiet hours without polling", quiet},
		{"says it heard each receipt", receipts},
		{"sends, keeping to the limits it was told", sends},
		{"waits for slow answers without repeating", slowAnswers},
		{"resumes an upload after a dropped connection", uploadDropped},
		{"ignores an answer to an earlier attempt", staleAnswer},
		{"copes with answers out of order", reordered},
	}
	for _, r := range refusals {
		list = append(list, scenario{"refusal " + r.code + ": " + r.want, r.run})
	}
	return append(list,
		scenario{"stops when its certificate has expired", expired},
		scenario{"stops when it is revoked", revoked},
	)
}

func connects(s *scene) (bool, string) {
	if err := s.dev.Start(s.ctx); err != nil {
		return false, "the device did not start: " + err.Error()
	}
	if !s.wait(s.step(), func() bool { return s.e.o.subscribed }) {
		if len(s.e.o.connects) > 0 {
			return false, "connected, but did not subscribe to toyhub/v1/<id>/down/#"
		}
		return false, fmt.Sprintf("no connection within %v", s.step())
	}
	return true, "connected with its certificate and subscribed to its down/ topics"
}

func renews(s *scene) (bool, string) {
	first := s.k.currentSerial()
	life := s.k.opt.CertLife
	deadline := time.Now().Add(life + s.step())
	for time.Now().Before(deadline) {
		if !s.wait(time.Until(deadline), func() bool { return s.e.o.renewed }) {
			break
		}
		// Give the new certificate time to reach the device, then end the
		// connection: the next one must use it.
		s.watch(time.Second, func() bool { return false })
		s.e.o.renewed, s.e.o.connects = false, nil
		s.k.drop()
		s.e.lost()
		if !s.wait(s.step(), func() bool { return len(s.e.o.connects) > 0 }) {
			return false, "renewed, but did not connect again"
		}
		if s.k.currentSerial() != first {
			return true, "renewed over MQTT and connected with the new certificate"
		}
		// It connected with the old one: perhaps the answer was lost with
		// the connection. It may renew again while it is still due.
	}
	if s.k.currentSerial() != first {
		return true, "renewed over MQTT and connected with the new certificate"
	}
	return false, fmt.Sprintf("no renewal that it used within the certificate's life of %v (renew after two thirds of it)", life)
}

func receives(s *scene) (bool, string) {
	id, m := s.message(1.5, 1, func(m *outMsg) { m.extra = true })
	if !s.wait(s.step(), func() bool { return m.played }) {
		if s.e.o.fetches[id] == 0 {
			return false, "no fetch after a Notify with an extra field: a device must ignore fields it does not know"
		}
		return false, "fetched, but did not confirm it played: " + s.problems()
	}
	if p := s.limits(); p != "" {
		return false, p
	}
	return true, fmt.Sprintf("fetched %d bytes within its window, and confirmed played", len(m.data))
}

func fetchDropped(s *scene) (bool, string) {
	_, m := s.message(1.5, 2, func(m *outMsg) { m.dropAt = 2 })
	if !s.wait(s.step(), func() bool { return m.played }) {
		return false, "after the connection dropped mid-fetch, the message was not fetched and played"
	}
	return true, fmt.Sprintf("reconnected (%d connection) and finished the message", len(s.e.o.connects))
}

func corrupt(s *scene) (bool, string) {
	id, m := s.message(1, 3, func(m *outMsg) { m.sha[0] ^= 0xff })
	defer func() { m.gone = true }()
	if !s.wait(s.step(), func() bool { return m.covered == int64(len(m.data)) || m.played }) {
		return false, "did not fetch the message"
	}
	if !s.watch(s.k.opt.Watch, func() bool { return m.played }) {
		return false, "confirmed as played a message whose bytes do not match its SHA-256"
	}
	return true, fmt.Sprintf("fetched all of it (%d fetches) and did not confirm it", s.e.o.fetches[id])
}

func quiet(s *scene) (bool, string) {
	// The quiet hours begin as the device starts to fetch.
	id, m := s.message(1, 4, func(m *outMsg) { m.quietAtFetch = true })
	if !s.wait(s.step(), func() bool { return s.e.o.fetches[id] > 0 }) {
		return false, "did not fetch the message it was notified of"
	}
	window := s.k.limits().FetchWindow
	if !s.watch(s.k.opt.Watch, func() bool { return s.e.o.fetches[id] > 2*window }) {
		return false, fmt.Sprintf("asked %d times during quiet hours: after `quiet`, wait for the next Notify", s.e.o.fetches[id])
	}
	m.quiet = false
	s.e.notify(id, m) // the hours are over
	if !s.wait(s.step(), func() bool { return m.played }) {
		return false, "did not fetch the message after the Notify that ended the quiet hours"
	}
	return true, "stopped at `quiet`, and fetched and played at the next Notify"
}

func receipts(s *scene) (bool, string) {
	st := wire.Status{ID: wire.NewMessageID(), To: s.e.sender, State: wire.StatePlayed, At: time.Now().Unix()}
	s.e.statuses[st.ID] = st
	s.e.out(wire.DownStatus, wire.Encode(st), 0)
	if !s.wait(s.step(), func() bool { _, left := s.e.statuses[st.ID]; return !left }) {
		return false, "no up/heard for a Status: the hub repeats it at every sync for 30 days"
	}
	return true, "published a Heard naming the Status"
}

func sends(s *scene) (bool, string) {
	h, ok, why := s.upload(nil, "keeping to its limits")
	if !ok {
		return false, why
	}
	if p := s.limits(); p != "" {
		return false, p
	}
	if n := len(s.e.o.headers); n > 1 {
		why := "every answer came at once"
		if h.Batch {
			why = "with batch one answer covers every chunk of a commit: follow the next it names, do not count answers"
		}
		return false, fmt.Sprintf("sent the header %d times, though %s", n, why)
	}
	return true, fmt.Sprintf("%d chunks of at most %d bytes, at most %d in flight", s.e.o.chunks, s.e.o.maxChunk, s.k.limits().UploadWindow)
}

func slowAnswers(s *scene) (bool, string) {
	delay := time.Duration(s.k.opt.RetryMS) * time.Millisecond / 2
	h, ok, why := s.upload(func(f *faults) { f.ackDelay = delay }, "with answers taking half the retry time")
	if !ok {
		return false, why
	}
	if n := len(s.e.o.headers); n > 1 {
		return false, fmt.Sprintf("sent the header %d times though every answer came within the retry time", n)
	}
	if s.e.o.chunks > h.Chunks() {
		return false, fmt.Sprintf("sent %d chunks for %d: it repeated chunks before the retry time", s.e.o.chunks, h.Chunks())
	}
	return true, fmt.Sprintf("waited for answers held %v and sent each chunk once", delay)
}

func uploadDropped(s *scene) (bool, string) {
	if _, ok, why := s.upload(func(f *faults) { f.dropAfter = 2 }, "after the connection dropped mid-upload"); !ok {
		return false, why
	}
	if s.e.o.resumedNext == 0 {
		return false, "finished, but without sending the header again after the connection dropped"
	}
	if s.e.o.resumedSeq != s.e.o.resumedNext {
		return false, fmt.Sprintf("resumed from chunk %d where the hub said next %d", s.e.o.resumedSeq, s.e.o.resumedNext)
	}
	return true, "sent the same header again and went on from the chunk the hub named"
}

func staleAnswer(s *scene) (bool, string) {
	if _, ok, why := s.upload(func(f *faults) { f.stale = true }, "after an answer from an earlier attempt"); !ok {
		return false, why
	}
	return true, "sent every chunk in order though an old answer said they were stored"
}

func reordered(s *scene) (bool, string) {
	if _, ok, why := s.upload(func(f *faults) { f.reverse = true }, "with answers crossed"); !ok {
		return false, why
	}
	return true, "finished with each pair of answers crossed"
}

// refusal is what a device does about one refusal code.
type refusal struct {
	code, want string
	run        func(s *scene) (bool, string)
}

var refusals = []refusal{
	{wire.CodeIDInUse, "sends again under a new ID", func(s *scene) (bool, string) {
		s.e.f.refuseHeader = wire.CodeIDInUse
		h, ok := s.send()
		if !ok {
			return false, s.noHeader()
		}
		var again wire.Header
		if !s.wait(s.step(), func() bool {
			for _, x := range s.e.o.headers[1:] {
				if x.SHA256 == h.SHA256 {
					again = x
					return true
				}
			}
			return false
		}) {
			return false, "did not send the message again"
		}
		if again.ID == h.ID {
			return false, "sent it again under the same ID"
		}
		return s.committed(again.ID), "chose a new ID and sent it"
	}},
	{wire.CodeStorage, "sends the header again", func(s *scene) (bool, string) {
		if _, ok, why := s.upload(func(f *faults) { f.refuseHeader = wire.CodeStorage }, "after `storage`"); !ok {
			return false, why
		}
		return true, "sent the same header again and finished"
	}},
	{wire.CodeHashMismatch, "starts again from chunk 0", func(s *scene) (bool, string) {
		if _, ok, why := s.upload(func(f *faults) { f.refuseLast = wire.CodeHashMismatch }, "after `hash_mismatch`"); !ok {
			return false, why
		}
		return true, "sent the header again and every chunk from 0"
	}},
	{wire.CodeOutOfOrder, "goes on from next", func(s *scene) (bool, string) {
		if _, ok, why := s.upload(func(f *faults) { f.refuseSecond = wire.CodeOutOfOrder }, "after `out_of_order` with next 1"); !ok {
			return false, why
		}
		return true, "sent chunk 1 again and finished"
	}},
	{wire.CodeUnknown, "forgets a message it cannot fetch", func(s *scene) (bool, string) {
		id, _ := s.message(1, 5, func(m *outMsg) { m.gone = true })
		if !s.wait(s.step(), func() bool { return s.e.o.fetches[id] > 0 }) {
			return false, "did not fetch the message it was notified of"
		}
		window := s.k.limits().FetchWindow
		if !s.watch(s.k.opt.Watch, func() bool { return s.e.o.fetches[id] > 2*window }) {
			return false, fmt.Sprintf("asked %d times for a message the hub answers `unknown`", s.e.o.fetches[id])
		}
		return true, fmt.Sprintf("stopped after %d fetches", s.e.o.fetches[id])
	}},
	giveUp(wire.CodeBadHeader, false),
	giveUp(wire.CodeNotContact, false),
	giveUp(wire.CodeTooLarge, false),
	giveUp(wire.CodeTooLong, true),
	giveUp(wire.CodeNotWAV, true),
	later(wire.CodeLimit),
	later(wire.CodeFull),
}

// giveUp: after code the message is not sent again.
func giveUp(code string, atChunk bool) refusal {
	return refusal{code, "gives the message up", func(s *scene) (bool, string) {
		if atChunk {
			s.e.f.refuseFirst = code
		} else {
			s.e.f.refuseHeader = code
		}
		h, ok := s.send()
		if !ok {
			return false, s.noHeader()
		}
		if !s.watch(s.k.opt.Watch, func() bool { return count(s.e.o.headers, h.ID) > 1 }) {
			return false, fmt.Sprintf("sent the message again after `%s`, which no retry cures", code)
		}
		return true, fmt.Sprintf("did not send it again in %v", s.k.opt.Watch)
	}}
}

// later: after code the message waits, and is not sent again at once.
func later(code string) refusal {
	return refusal{code, "keeps the message for later", func(s *scene) (bool, string) {
		s.e.f.refuseHeader = code
		h, ok := s.send()
		if !ok {
			return false, s.noHeader()
		}
		if !s.watch(s.k.opt.Watch, func() bool { return count(s.e.o.headers, h.ID) > 1 }) {
			return false, fmt.Sprintf("sent it again within %v of `%s`: wait a minute or more", s.k.opt.Watch, code)
		}
		return true, fmt.Sprintf("waited more than %v", s.k.opt.Watch)
	}}
}

func count(hs []wire.Header, id wire.MessageID) int {
	n := 0
	for _, h := range hs {
		if h.ID == id {
			n++
		}
	}
	return n
}

// hammering counts the connection attempts in the watch after a refusal,
// and reports whether there were more than a device makes that stops, or
// that backs off as docs/protocol.md says: from half a second at the
// least, doubling, it makes at most 2 + log2(watch / 250 ms).
func (s *scene) hammering() (bool, int64) {
	start := s.k.hellos.Load()
	s.watch(s.k.opt.Watch, func() bool { return false })
	n := s.k.hellos.Load() - start
	allowed := int64(2)
	for d := 250 * time.Millisecond; d <= s.k.opt.Watch; d *= 2 {
		allowed++
	}
	return n > allowed-1, n
}

func expired(s *scene) (bool, string) {
	s.k.expired.Store(true)
	defer s.k.expired.Store(false)
	s.k.drop()
	s.e.lost()
	if bad, n := s.hammering(); bad {
		return false, fmt.Sprintf("%d connection attempts in %v with an expired certificate: stop, and ask to be paired again", n, s.k.opt.Watch)
	} else {
		return true, fmt.Sprintf("%d connection attempts in %v", n, s.k.opt.Watch)
	}
}

func revoked(s *scene) (bool, string) {
	s.k.revoked.Store(true)
	// Counted from before the drop: a device still running from the last
	// scenario reconnects at once, is refused and stops, and Start, called
	// while it stops, may find it running and do nothing. That attempt is
	// the one this scenario waits for.
	start := s.k.hellos.Load()
	s.k.drop()
	s.e.lost()
	if err := s.dev.Start(s.ctx); err != nil {
		return false, "the device did not start: " + err.Error()
	}
	if !s.wait(s.step(), func() bool { return s.k.hellos.Load() > start }) {
		return false, "the device did not try to connect after it was started"
	}
	if bad, n := s.hammering(); bad {
		return false, fmt.Sprintf("%d connection attempts in %v after the hub refused it: stop, and tell a parent", n, s.k.opt.Watch)
	} else {
		return true, fmt.Sprintf("%d connection attempts in %v", n, s.k.opt.Watch)
	}
}
