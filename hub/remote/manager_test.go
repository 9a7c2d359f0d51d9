package remote

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/store"
)

type memStore struct {
	mu     sync.Mutex
	meta   map[string][]byte
	events []store.Event
}

func (s *memStore) Meta(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.meta[k], nil
}

func (s *memStore) SetMeta(_ context.Context, k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[k] = v
	return nil
}

func (s *memStore) Audit(e store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

// movingRouter maps every time, its address on the Internet given by
// each call in turn, with a lease short enough to be asked again at once.
type movingRouter struct {
	mu    sync.Mutex
	addrs []string
	calls int
}

func (r *movingRouter) Map(_ context.Context, port int) (Mapping, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := netip.MustParseAddr(r.addrs[min(r.calls, len(r.addrs)-1)])
	r.calls++
	return Mapping{State: MapDone, Method: "UPnP", External: a, Port: port, Lease: 20 * time.Millisecond,
		Message: "The home router forwards the port."}, nil
}

func (r *movingRouter) Unmap(context.Context, Mapping) error { return nil }

// TestAddressMoves: when the router's address on the Internet changes,
// the parent is told what it means: nothing to do with a name that the
// router's dynamic DNS keeps up to date, and with a bare address, that
// grandparents lost the way in and how to mend it.
func TestAddressMoves(t *testing.T) {
	tests := []struct {
		host string
		says []string
	}{
		{"family.example.net", []string{"changed from 57.128.40.1 to 57.128.41.9", "nothing to do"}},
		{"57.128.40.1", []string{"changed from 57.128.40.1 to 57.128.41.9", "no longer reaches your home", "turn remote access on again with 57.128.41.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			st := &memStore{meta: map[string][]byte{}}
			r := &movingRouter{addrs: []string{"57.128.40.1", "57.128.40.1", "57.128.41.9"}}
			m := NewManager(Settings{}, Deps{Store: st, Mapper: r,
				Door: func() *Door {
					return NewDoor(Configs{MQTT: &tls.Config{}, Enroll: &tls.Config{}, Web: &tls.Config{}}, Handlers{}, Options{})
				},
				Listen: func(int) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
				Log:    slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now})
			defer m.Close()
			if _, err := m.Apply(context.Background(), Settings{Enabled: true, Host: tt.host, Port: 8885, Map: true}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for m.Status().Mapping.External.String() != "57.128.41.9" || !strings.Contains(m.Status().Mapping.Message, "changed") {
				if time.Now().After(deadline) {
					t.Fatalf("the move was not told: %+v", m.Status().Mapping)
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // renewed again, at the new address: still told
			msg := m.Status().Mapping.Message
			for _, s := range tt.says {
				if !strings.Contains(msg, s) {
					t.Errorf("%q does not say %q", msg, s)
				}
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			moved := 0
			for _, e := range st.events {
				if e.Kind == store.EvRemoteMapped && strings.Contains(e.Detail, "changed") {
					moved++
				}
			}
			if moved != 1 {
				t.Errorf("%d audit entries for one move", moved)
			}
		})
	}
}
