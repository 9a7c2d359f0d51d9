package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Mux holds the daemon's handler of every operation.
type Mux struct {
	handlers map[string]func(ctx context.Context, args json.RawMessage) (any, error)
}

// Handle binds an operation to its handler.
func Handle[A, R any](m *Mux, op Op[A, R], h func(context.Context, A) (R, error)) {
	if m.handlers == nil {
		m.handlers = map[string]func(context.Context, json.RawMessage) (any, error){}
	}
	m.handlers[op.name] = func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if _, none := any(a).(None); !none {
			if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
				return nil, errors.New("missing arguments")
			}
			d := json.NewDecoder(bytes.NewReader(raw))
			d.DisallowUnknownFields()
			if err := d.Decode(&a); err != nil {
				return nil, fmt.Errorf("bad arguments: %w", err)
			}
		}
		return h(ctx, a)
	}
}

// Unhandled lists the declared operations that have no handler.
func (m *Mux) Unhandled() []string {
	var out []string
	for n := range declared {
		if m.handlers[n] == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Server serves the control socket.
type Server struct {
	mux  *Mux
	path string
	ln   net.Listener
	log  *slog.Logger
	ctx  context.Context // ends requests when the hub stops
	wg   sync.WaitGroup
}

// Listen serves mux on a Unix socket at path until Close; requests end
// when ctx does. Every declared operation must have a handler.
func Listen(ctx context.Context, path string, mux *Mux, log *slog.Logger) (*Server, error) {
	if missing := mux.Unhandled(); len(missing) > 0 {
		return nil, fmt.Errorf("control: no handler for %v", missing)
	}
	// The data directory lock is held, so a socket left here is stale.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	s := &Server{mux: mux, path: path, ln: ln, log: log, ctx: ctx}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.serveConn(c.(*net.UnixConn)) })
	}
}

// Close stops serving, waits for the requests under way and removes the
// socket.
func (s *Server) Close() {
	s.ln.Close()
	s.wg.Wait()
	os.Remove(s.path)
}

// peerUID returns the user ID of the process at the other end.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if credErr != nil {
		return -1, credErr
	}
	return int(cred.Uid), nil
}

func (s *Server) serveConn(c *net.UnixConn) {
	defer c.Close()
	uid, err := peerUID(c)
	if err != nil || (uid != os.Geteuid() && uid != 0) {
		s.log.Warn("Control connection refused", "uid", uid)
		return
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req request
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(response{Error: "bad request: " + err.Error()})
		return
	}
	h, ok := s.mux.handlers[req.Op]
	if !ok {
		json.NewEncoder(c).Encode(response{Error: fmt.Sprintf("unknown operation %q", req.Op)})
		return
	}
	timeout := declared[req.Op]
	c.SetDeadline(time.Now().Add(timeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	result, err := h(ctx, req.Args)
	var resp response
	if err != nil {
		resp.Error = err.Error()
	} else if resp.Result, err = json.Marshal(result); err != nil {
		resp = response{Error: err.Error()}
	}
	json.NewEncoder(c).Encode(resp)
}
