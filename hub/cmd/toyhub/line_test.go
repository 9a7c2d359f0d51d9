package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The Internet between the two homes: a wire in a namespace of its own,
// between the router's WAN side (l0) and grandma's home (l1), that
// carries every Ethernet frame after a delay it is told. This kernel has
// no netem (CONFIG_NET_SCH_NETEM is not set) and no qdisc that honours a
// departure time, so the delay is made here, in user space. Loss and
// outages are the router's nftables rules; a slow line is an htb class.

const lineEnv = "TOYHUB_TEST_LINE"

// lineWire runs in the line namespace as a helper. It prints "ready";
// each "delay D" line on its standard input sets the delay each way.
func lineWire() int {
	fail := func(err error) int { fmt.Println("error:", err); return 1 }
	a, err := wireEnd("l0")
	if err != nil {
		return fail(err)
	}
	b, err := wireEnd("l1")
	if err != nil {
		return fail(err)
	}
	var delay atomic.Int64
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "delay" {
				if d, err := time.ParseDuration(f[1]); err == nil {
					delay.Store(int64(d))
				}
			}
		}
		os.Exit(0) // the test is gone
	}()
	fmt.Println("ready")
	go carry(a, b, &delay)
	carry(b, a, &delay)
	return 0
}

// wireEnd is a packet socket on one end of the wire. With a virtio-net
// header on every frame, a TCP segment the sender's stack left large
// (segmentation offload) is read whole and written whole, and the kernel
// cuts it up on the way out, as the veth would have.
func wireEnd(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return -1, err
	}
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	return fd, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index})
}

// carry moves frames that arrive at one end out of the other, each after
// the delay in force when it arrived (so they keep their order).
func carry(from, to int, delay *atomic.Int64) {
	type frame struct {
		due time.Time
		b   []byte
	}
	q := make(chan frame, 1<<14)
	go func() {
		for f := range q {
			time.Sleep(time.Until(f.due))
			unix.Write(to, f.b)
		}
	}()
	buf := make([]byte, 1<<17)
	for {
		n, sa, err := unix.Recvfrom(from, buf, 0)
		if err != nil {
			continue
		}
		if ll, ok := sa.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // what this wire wrote itself
		}
		select {
		case q <- frame{time.Now().Add(time.Duration(delay.Load())), bytes.Clone(buf[:n])}:
		default: // a full line drops, as a router's queue does
		}
	}
}

// startLine runs the wire in namespace ns; setDelay changes its delay.
func startLine(t testing.TB, ns string) (setDelay func(time.Duration)) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lineEnv+"=1")
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		t.Fatalf("the line: %q", line)
	}
	return func(d time.Duration) {
		if _, err := io.WriteString(in, fmt.Sprintf("delay %s\n", d)); err != nil {
			t.Fatal(err)
		}
	}
}
