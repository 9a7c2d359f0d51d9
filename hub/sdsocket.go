package hub

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/toyhub/toyhub/hub/remote"
)

// Under systemd the service may reach only the LAN (IPAddressDeny in
// toyhub.service), and it must stay so with remote access on: the hub
// answers from anywhere but opens nothing beyond the LAN. systemd applies
// a service's address rules to the sockets the service makes, and a
// socket unit's rules to the sockets it passes in
// (systemd.resource-control(5)); so toyhub-remote.socket, which allows
// any address, makes the remote port and passes it to the hub, named
// "remote". Answers on it go anywhere; everything the hub itself opens
// stays on the LAN.

// remoteSocketName is the passed socket's name (FileDescriptorName= in
// toyhub-remote.socket; the unit's name when none is set).
var remoteSocketNames = []string{"remote", "toyhub-remote.socket"}

// passed is the remote socket systemd passed in, if any: taken once per
// process (a hub that starts again in the same process keeps it), and
// never closed by the hub, which cannot make it again.
var passed = sync.OnceValue(func() *passedSocket {
	ln, err := listenFDs(remoteSocketNames)
	if err != nil || ln == nil {
		return nil
	}
	p := &passedSocket{ln: ln}
	go p.serve()
	return p
})

// underSystemd says the hub runs as a systemd service.
func underSystemd() bool { return os.Getenv("INVOCATION_ID") != "" }

// listenFDs finds the passed socket with one of names (LISTEN_FDS,
// LISTEN_FDNAMES, for this process: LISTEN_PID), and unsets the variables
// so that no child takes them.
func listenFDs(names []string) (net.Listener, error) {
	if pid, err := strconv.Atoi(os.Getenv("LISTEN_PID")); err != nil || pid != os.Getpid() {
		return nil, nil
	}
	n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	fdNames := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	if err != nil || n <= 0 {
		return nil, err
	}
	const first = 3 // SD_LISTEN_FDS_START
	var found net.Listener
	for i := range n {
		fd := first + i
		syscall.CloseOnExec(fd)
		name := ""
		if i < len(fdNames) {
			name = fdNames[i]
		}
		f := os.NewFile(uintptr(fd), name)
		match := false
		for _, want := range names {
			match = match || name == want
		}
		if !match || found != nil {
			f.Close() // not ours: nothing else takes passed sockets
			continue
		}
		ln, err := net.FileListener(f)
		f.Close() // FileListener holds its own copy
		if err != nil {
			return nil, fmt.Errorf("hub: passed socket %q: %w", name, err)
		}
		found = ln
	}
	return found, nil
}

// passedSocket serves the passed remote socket for whichever door is
// open: while remote access is off, a connection is closed at once.
type passedSocket struct {
	ln  net.Listener
	mu  sync.Mutex
	cur *remote.Handoff
}

func (p *passedSocket) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		h := p.cur
		p.mu.Unlock()
		if h == nil {
			c.Close()
			continue
		}
		go h.Give(c)
	}
}

// port is the port the socket listens on.
func (p *passedSocket) port() int {
	if a, ok := p.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// open gives the door a listener of its own on the socket.
func (p *passedSocket) open() net.Listener {
	h := remote.NewHandoff(p.ln.Addr())
	p.mu.Lock()
	p.cur = h
	p.mu.Unlock()
	return &passedListener{Handoff: h, p: p}
}

type passedListener struct {
	*remote.Handoff
	p *passedSocket
}

// Close stops this door's share of the socket; the socket stays open.
func (l *passedListener) Close() error {
	l.p.mu.Lock()
	if l.p.cur == l.Handoff {
		l.p.cur = nil
	}
	l.p.mu.Unlock()
	return l.Handoff.Close()
}
