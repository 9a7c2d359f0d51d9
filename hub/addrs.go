package hub

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

func isVirtual(name string) bool {
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// lanAddrs lists this machine's addresses on LAN interfaces: up, not
// loopback, not virtual, private or link-local. It only reads the
// interface table; it sends nothing.
func lanAddrs() []netip.Addr {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || isVirtual(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.IsPrivate() || ip.IsLinkLocalUnicast() && ip.Is4() {
				out = append(out, ip)
			}
		}
	}
	// IPv4 first: toys' network stacks often lack IPv6.
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

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "toyhub"
	}
	h, _, _ = strings.Cut(h, ".")
	return strings.ToLower(h)
}

// serverNames are the DNS names and IPs the server certificate covers.
func serverNames() (dns []string, ips []netip.Addr) {
	h := hostname()
	dns = []string{h, h + ".local", "localhost"}
	ips = append(lanAddrs(), netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback())
	return dns, ips
}

// advertised lists the addresses devices should try, in order.
func advertised(cfg Config, boundAddr string) []string {
	if len(cfg.AdvertiseHosts) > 0 {
		return slices.Clone(cfg.AdvertiseHosts)
	}
	host, port, err := net.SplitHostPort(boundAddr)
	if err != nil {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		return []string{boundAddr}
	}
	var out []string
	for _, ip := range lanAddrs() {
		out = append(out, net.JoinHostPort(ip.String(), port))
	}
	return append(out, net.JoinHostPort(hostname()+".local", port), net.JoinHostPort("127.0.0.1", port))
}
