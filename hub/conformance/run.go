package conformance

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// Result is one behaviour and whether the device got it right.
type Result struct {
	Name   string // what the device is checked for, in a few words
	Pass   bool
	Detail string // what the kit saw, in plain words
}

// Report writes one line per result and a summary, and returns the number
// of failures.
func Report(w io.Writer, rs []Result) int {
	failed := 0
	for _, r := range rs {
		mark := "PASS"
		if !r.Pass {
			mark, failed = "FAIL", failed+1
		}
		fmt.Fprintf(w, "%s  %-44s %s\n", mark, r.Name, r.Detail)
	}
	fmt.Fprintf(w, "%d of %d behaviours right\n", len(rs)-failed, len(rs))
	return failed
}

// scene is one scenario as it runs.
type scene struct {
	ctx context.Context
	k   *Kit
	e   *engine
	dev Device
}

// wait handles what the device does until ok reports true or d passes;
// it reports whether ok did.
func (s *scene) wait(d time.Duration, ok func() bool) bool {
	if ok() {
		return true
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case ev := <-s.k.events:
			s.e.handle(ev)
		case <-tick.C:
		case <-deadline.C:
			return ok()
		case <-s.ctx.Done():
			return false
		}
		if ok() {
			return true
		}
	}
}

// watch handles what the device does for d, and reports whether bad
// stayed false all along.
func (s *scene) watch(d time.Duration, bad func() bool) bool {
	return !s.wait(d, bad)
}

func (s *scene) step() time.Duration { return s.k.opt.Step }

// message puts a message for the device in the kit's store and notifies
// it, as the hub does when a contact's message is committed.
func (s *scene) message(seconds float64, seed uint32, set func(*outMsg)) (wire.MessageID, *outMsg) {
	data := wire.Tone(16000, time.Duration(seconds*float64(time.Second)), 330, seed)
	m := &outMsg{data: data, sha: sha256.Sum256(data), chunk: 8192}
	if set != nil {
		set(m)
	}
	id := wire.NewMessageID()
	s.e.inbox[id] = m
	if !m.quiet {
		s.e.notify(id, m)
	}
	return id, m
}

// send asks the device for a message and waits for its first header.
func (s *scene) send() (wire.Header, bool) {
	if err := s.dev.Send(s.ctx); err != nil {
		return wire.Header{}, false
	}
	from := len(s.e.o.headers)
	if !s.wait(s.step(), func() bool { return len(s.e.o.headers) > from }) {
		return wire.Header{}, false
	}
	return s.e.o.headers[from], true
}

// upload sets a fault, asks the device for a message, and follows the
// upload to its end. It reports whether the device finished it with
// nothing wrong, and if not, why, naming the circumstance (what).
func (s *scene) upload(set func(*faults), what string) (wire.Header, bool, string) {
	if set != nil {
		set(&s.e.f)
	}
	h, ok := s.send()
	if !ok {
		return h, false, s.noHeader()
	}
	if !s.committed(h.ID) {
		return h, false, strings.TrimSpace("did not finish " + what + ". " + s.problems())
	}
	if p := s.problems(); p != "" {
		return h, false, what + ": " + p
	}
	return h, true, ""
}

func (s *scene) noHeader() string {
	return fmt.Sprintf("no header within %v of asking the device to send", s.step())
}

func (s *scene) committed(id wire.MessageID) bool {
	return s.wait(s.step(), func() bool {
		u := s.e.uploads[id]
		return u != nil && u.committed
	})
}

func (s *scene) problems() string {
	return strings.Join(s.e.o.problems, "; ")
}

// limits is what the device did beyond its limits, and anything else
// wrong.
func (s *scene) limits() string {
	return strings.Join(append(slices.Clone(s.e.o.over), s.e.o.problems...), "; ")
}

// scenario is one behaviour checked.
type scenario struct {
	name string
	run  func(s *scene) (bool, string)
}

// Run starts the device and checks each behaviour in turn. The device
// must first connect; if it does not, nothing else is checked.
func (k *Kit) Run(ctx context.Context, dev Device) []Result {
	e := newEngine(k)
	s := &scene{ctx: ctx, k: k, e: e, dev: dev}
	var out []Result
	for i, sc := range scenarios() {
		if i > 0 && !k.chosen(sc.name) {
			continue
		}
		e.reset()
		ok, detail := sc.run(s)
		out = append(out, Result{Name: sc.name, Pass: ok, Detail: detail})
		k.opt.Log.Info("Conformance scenario done", "scenario", sc.name, "pass", ok)
		if i == 0 && !ok || ctx.Err() != nil {
			break
		}
	}
	return out
}

func (k *Kit) chosen(name string) bool {
	if len(k.opt.Only) == 0 {
		return true
	}
	for _, w := range k.opt.Only {
		if w != "" && strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Names lists the behaviours the kit checks, in order.
func Names() []string {
	var out []string
	for _, sc := range scenarios() {
		out = append(out, sc.name)
	}
	return out
}
