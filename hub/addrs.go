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

// lanIface is a LAN interface and its LAN addresses.
type lanIface struct {
	net.Interface
	addrs []netip.Addr
}

// lanInterfaces lists the interfaces on the home LAN: up, multicast, not
// loopback, not virtual, with a private or link-local address. If names
// is not empty, only those interfaces are considered. It only reads the
// interface table; it sends nothing.
func lanInterfaces(names []string) []lanIface {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []lanIface
	for _, ifc := range ifaces {
		if len(names) > 0 && !slices.Contains(names, ifc.Name) {
			continue
		}
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || len(names) == 0 && isVirtual(ifc.Name) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		li := lanIface{Interface: ifc}
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if ip.IsPrivate() || ip.IsLinkLocalUnicast() && ip.Is4() {
				li.addrs = append(li.addrs, ip)
			}
		}
		if len(li.addrs) > 0 {
			out = append(out, li)
		}
	}
	return out
}

// lanAddrs lists this machine's LAN addresses, IPv4 first: toys' network
// stacks often lack IPv6.
func lanAddrs() []netip.Addr {
	var out []netip.Addr
	for _, li := range lanInterfaces(nil) {
		out = append(out, li.addrs...)
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

// advertised lists the MQTT addresses devices should try, in order.
func advertised(cfg Config, boundAddr string) []string {
	if len(cfg.AdvertiseHosts) > 0 {
		return slices.Clone(cfg.AdvertiseHosts)
	}
	return hostsFor(boundAddr)
}

// enrollAddresses lists where an invited device finds the enrollment
// endpoint: the LAN addresses, then the public address if a parent
// configured one (remote access is off otherwise).
func enrollAddresses(cfg Config, boundAddr string) []string {
	var out []string
	if len(cfg.AdvertiseHosts) > 0 {
		_, port, _ := net.SplitHostPort(boundAddr)
		for _, h := range cfg.AdvertiseHosts {
			if host, _, err := net.SplitHostPort(h); err == nil {
				out = append(out, net.JoinHostPort(host, port))
			}
		}
	} else {
		out = hostsFor(boundAddr)
	}
	if cfg.PublicAddress != "" {
		out = append(out, cfg.PublicAddress)
	}
	return out
}

// hostsFor is the bound address if it is a specific one, otherwise this
// machine's LAN addresses, its .local name and loopback, on its port.
func hostsFor(boundAddr string) []string {
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
