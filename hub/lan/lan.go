// Package lan knows the hub's place on the home network: which
// interfaces are the LAN (not container bridges or VPNs), the machine's
// LAN addresses and name, and so the addresses that devices are told to
// use and that the server certificate covers. It only reads the
// interface table; it sends nothing.
package lan

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// virtualPrefixes name interfaces that are not the home LAN: container and
// VM bridges, VPNs. Devices on the LAN never reach the hub through them.
var virtualPrefixes = []string{"docker", "br-", "veth", "virbr", "vnet", "lxc", "lxd", "cni", "flannel", "tun", "tap", "wg", "zt", "tailscale"}

func IsVirtual(name string) bool {
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Interface is a LAN interface and its LAN addresses.
type Interface struct {
	net.Interface
	Addrs []netip.Addr
}

// Interfaces lists the interfaces on the home LAN: up, multicast, not
// loopback, not virtual, with a private or link-local address. If names
// is not empty, only those interfaces are considered. It only reads the
// interface table; it sends nothing.
func Interfaces(names []string) []Interface {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []Interface
	for _, ifc := range ifaces {
		if len(names) > 0 && !slices.Contains(names, ifc.Name) {
			continue
		}
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || len(names) == 0 && IsVirtual(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		li := Interface{Interface: ifc}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.IsPrivate() || ip.IsLinkLocalUnicast() && ip.Is4() {
				li.Addrs = append(li.Addrs, ip)
			}
		}
		if len(li.Addrs) > 0 {
			out = append(out, li)
		}
	}
	return out
}

// Addrs lists this machine's LAN addresses, IPv4 first: toys' network
// stacks often lack IPv6.
func Addrs() []netip.Addr {
	var out []netip.Addr
	for _, li := range Interfaces(nil) {
		out = append(out, li.Addrs...)
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case b.Is4() && !a.Is4():
			return 1
		}
		return a.Compare(b)
	})
	return out
}

// Hostname is this machine's name, lower case, without a domain.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "toyhub"
	}
	h, _, _ = strings.Cut(h, ".")
	return strings.ToLower(h)
}

// ServerNames are the DNS names and IPs the server certificate covers.
func ServerNames() (dns []string, ips []netip.Addr) {
	h := Hostname()
	dns = []string{h, h + ".local", "localhost"}
	ips = append(Addrs(), netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	return dns, ips
}

// Advertised lists the MQTT addresses devices should try, in order: the
// configured ones if any, otherwise those of the address the broker is
// bound to (see Hosts).
func Advertised(configured []string, boundAddr string) []string {
	if len(configured) > 0 {
		return slices.Clone(configured)
	}
	return Hosts(boundAddr)
}

// EnrollAddresses lists where an invited device finds the enrollment
// endpoint: the configured hosts (or the LAN addresses) on the endpoint's
// port, then the public address if a parent configured one (remote access
// is off otherwise).
func EnrollAddresses(configured []string, boundAddr, public string) []string {
	var out []string
	if len(configured) > 0 {
		_, port, _ := net.SplitHostPort(boundAddr)
		for _, h := range configured {
			if host, _, err := net.SplitHostPort(h); err == nil {
				out = append(out, net.JoinHostPort(host, port))
			}
		}
	} else {
		out = Hosts(boundAddr)
	}
	if public != "" {
		out = append(out, public)
	}
	return out
}

// Hosts is the bound address if it is a specific one, otherwise this
// machine's LAN addresses, its .local name and loopback, on its port.
func Hosts(boundAddr string) []string {
	host, port, err := net.SplitHostPort(boundAddr)
	if err != nil {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		return []string{boundAddr}
	}
	var out []string
	for _, ip := range Addrs() {
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	return append(out, net.JoinHostPort(Hostname()+".local", port), net.JoinHostPort("127.0.0.1", port))
}
