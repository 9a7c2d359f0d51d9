package audit

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// socket is a listening TCP socket read from /proc/net/tcp{,6}.
type socket struct {
	Addr  netip.AddrPort
	Inode string
}

// listening lists the TCP sockets in LISTEN state that this process owns:
// those in /proc/net/tcp and tcp6 whose inode is one of /proc/self/fd's.
func listening() ([]socket, error) {
	own := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			own[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []socket
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 here
		}
		if err != nil {
			return nil, err
		}
		socks, err := parseProcNet(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", table, err)
		}
		for _, s := range socks {
			if own[s.Inode] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// parseProcNet reads the LISTEN entries (state 0A) of a /proc/net/tcp table.
func parseProcNet(r io.Reader) ([]socket, error) {
	var out []socket
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		ap, err := parseHexAddr(f[1])
		if err != nil {
			return nil, err
		}
		out = append(out, socket{Addr: ap, Inode: f[9]})
	}
	return out, sc.Err()
}

// parseHexAddr reads "0100007F:1F90" (IPv4) or a 32-digit IPv6 address,
// both as the kernel prints them: 32-bit words in host order (little
// endian on every machine toyhub runs on).
func parseHexAddr(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	p, err := strconv.ParseUint(port, 16, 16)
	if !ok || err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	b, err := hex.DecodeString(host)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return netip.AddrPort{}, fmt.Errorf("address %q", s)
	}
	for i := 0; i < len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// dialAddr turns a bound address into one to connect to: an unspecified
// host means loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

func checkListeners(ctx context.Context, r *run) {
	const id = "exposure.listeners"
	socks, err := listening()
	if err != nil {
		r.add(Finding{Check: id, Severity: Medium, Title: "The hub could not list its own sockets",
			Checked: "the listening sockets of the hub's process (/proc/net/tcp and tcp6)", Seen: err.Error(),
			Fix: "Run the hub on Linux with /proc mounted, then run the check again."})
		return
	}
	want := map[int]string{}
	for _, l := range r.facts.Listeners() {
		want[portOf(l.Addr)] = l.Kind
	}
	var expected []string
	unexpected := 0
	for _, s := range socks {
		kind, ok := want[int(s.Addr.Port())]
		if !ok {
			r.add(Finding{Check: id, Severity: High, Title: "The hub listens on a port it does not expect",
				Checked: "every socket the hub's process listens on", Seen: fmt.Sprintf("a listening socket on %s", s.Addr),
				Fix:  "Stop the hub, remove any debug or extra listener from its configuration, and report this as a bug: toyhub should listen only for MQTT over TLS, enrollment, and the web app.",
				Host: s.Addr.Addr().String(), Port: int(s.Addr.Port())})
			unexpected++
			continue
		}
		expected = append(expected, fmt.Sprintf("%s on %s", kind, s.Addr))
	}
	if unexpected > 0 {
		return
	}
	slices.Sort(expected)
	r.pass(id, "The hub listens only where it should", "every socket the hub's process listens on", strings.Join(expected, ", "))
}
