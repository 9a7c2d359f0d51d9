package enroll

import (
	"crypto/hmac"
	"errors"
	"sync"
	"time"

	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// Windows are the pairing windows parents have opened: for a while, the
// toy whose label carries a code may pair, and will be called as the
// parent said. Codes are held in memory only (they are needed to check
// the toy's proof); once spent, only their hash is stored. A Windows is
// safe for concurrent use.
type Windows struct {
	life time.Duration
	now  func() time.Time

	mu      sync.Mutex
	windows []*window // open, and recently closed (to explain refusals)
}

type window struct {
	code    wire.PairingCode
	name    string
	expires time.Time
	used    bool
}

// NewWindows keeps windows open for life.
func NewWindows(life time.Duration, now func() time.Time) *Windows {
	return &Windows{life: life, now: now}
}

// Life is how long a window stays open.
func (ws *Windows) Life() time.Duration { return ws.life }

// Open starts a window for a code; the toy is to be called name. A code
// with a window already open is refused.
func (ws *Windows) Open(code wire.PairingCode, name string) (time.Time, error) {
	now := ws.now()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.prune(now)
	for _, w := range ws.windows {
		if w.code == code && !w.used && now.Before(w.expires) {
			return time.Time{}, errors.New("pairing with this code is already waiting for the toy")
		}
	}
	w := &window{code: code, name: name, expires: now.Add(ws.life)}
	ws.windows = append(ws.windows, w)
	return w.expires, nil
}

// prune forgets closed windows after a day; until then they explain why a
// late or repeated attempt is refused.
func (ws *Windows) prune(now time.Time) {
	kept := ws.windows[:0]
	for _, w := range ws.windows {
		if now.Sub(w.expires) < 24*time.Hour {
			kept = append(kept, w)
		}
	}
	ws.windows = kept
}

// take finds the open window whose code made the toy's proof and spends
// it; without one, why says what went wrong, for the audit log.
func (ws *Windows) take(proof, exporter, csrDER []byte) (code wire.PairingCode, name string, why string, ok bool) {
	now := ws.now()
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var match *window
	why = "wrong code, or no pairing started"
	// An open window with this code wins; a closed one only explains the
	// refusal (the same code may have an expired window and a new one).
	for _, w := range ws.windows {
		if !hmac.Equal(wire.ToyProof(w.code, exporter, csrDER), proof) {
			continue
		}
		switch {
		case w.used:
			why = "code already used"
		case !now.Before(w.expires):
			why = "pairing window expired"
		case match == nil:
			match = w
		}
	}
	if match == nil {
		return "", "", why, false
	}
	match.used = true
	return match.code, match.name, "", true
}

// Pairing states, as State reports them.
const (
	PairWaiting = "waiting" // the window is open
	PairDone    = "paired"  // the toy paired
	PairExpired = "expired" // the window closed with no toy
	PairUnknown = ""        // no window for that name
)

// State says what became of the newest window for a toy called name:
// whether it waits (and until when), paired, or expired.
func (ws *Windows) State(name string) (state string, until time.Time) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	now := ws.now()
	want := store.NormalizeName(name)
	for i := len(ws.windows) - 1; i >= 0; i-- {
		w := ws.windows[i]
		if store.NormalizeName(w.name) != want {
			continue
		}
		switch {
		case w.used:
			return PairDone, w.expires
		case now.Before(w.expires):
			return PairWaiting, w.expires
		}
		return PairExpired, w.expires
	}
	return PairUnknown, time.Time{}
}
