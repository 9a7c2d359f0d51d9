package remote

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/httpu"
	"github.com/huin/goupnp/ssdp"
	natpmp "github.com/jackpal/go-nat-pmp"

	"github.com/toyhub/toyhub/certs"
)

// Mapping states, as a parent reads them.
const (
	MapOff      = "off"       // no mapping asked (remote access off, or --no-map)
	MapDone     = "mapped"    // the router forwards the port to the hub
	MapNoRouter = "no-router" // no router on the LAN maps ports: forward it by hand
	MapRefused  = "refused"   // the router refused (the port goes to another machine)
	MapCGNAT    = "cgnat"     // the router itself is behind the provider's NAT
	MapAsking   = "asking"    // the first answer is still to come
)

// Mapping is what the router said.
type Mapping struct {
	State    string
	Method   string     // "UPnP" or "NAT-PMP"
	External netip.Addr // the router's own address on the Internet
	Internal netip.Addr // the hub's address the port goes to
	Port     int
	Lease    time.Duration // zero: until removed
	At       time.Time
	Message  string // what it means, in words
	igd      igd    // the UPnP service that made it, to remove it without searching again
}

// igd is what the hub asks of a router's UPnP Internet Gateway Device;
// WANIPConnection1, WANIPConnection2 and WANPPPConnection1 all have it.
type igd interface {
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16, client string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (uint16, string, bool, string, uint32, error)
}

// Mapper asks the home router to forward one TCP port to the hub, by UPnP
// IGD or else NAT-PMP. It speaks to nothing but the LAN: SSDP multicast on
// the LAN, and the router at a private address; a UPnP description or
// control URL outside the home ranges is ignored, so that a device on the
// LAN cannot make the hub connect beyond it.
type Mapper struct {
	Lease   time.Duration // asked of the router (one hour when 0)
	Timeout time.Duration // for discovery and each request (3 s when 0)
}

func (m Mapper) lease() time.Duration {
	if m.Lease == 0 {
		return time.Hour
	}
	return m.Lease
}

func (m Mapper) timeout() time.Duration {
	if m.Timeout == 0 {
		return 3 * time.Second
	}
	return m.Timeout
}

// onLAN reports whether an address is one of a home network's.
func onLAN(a netip.Addr) bool {
	return a.IsValid() && !a.IsLoopback() && certs.HomeScope().Permits(a.Unmap().String())
}

// Map asks for the mapping of port and says what came of it; an error is
// only the hub's own failure (no LAN address).
func (m Mapper) Map(ctx context.Context, port int) (Mapping, error) {
	gw, local, err := gateway()
	if err != nil {
		return Mapping{State: MapNoRouter, Port: port, At: time.Now(), Message: noRouterMessage(port, netip.Addr{})}, nil
	}
	res := Mapping{Port: port, Internal: local, At: time.Now()}
	if c, ok := m.findIGD(ctx); ok {
		res.Method, res.igd = "UPnP", c
		m.upnp(ctx, c, &res)
		return res, nil
	}
	if m.natpmp(gw, &res) {
		return res, nil
	}
	res.State, res.Message = MapNoRouter, noRouterMessage(port, local)
	return res, nil
}

// Unmap removes the mapping of port, by the method that made it.
func (m Mapper) Unmap(ctx context.Context, mp Mapping) error {
	switch mp.Method {
	case "UPnP":
		c, ok := mp.igd, mp.igd != nil
		if !ok {
			c, ok = m.findIGD(ctx)
		}
		if !ok {
			return errors.New("the router no longer answers")
		}
		ctx, cancel := context.WithTimeout(ctx, m.timeout())
		defer cancel()
		return c.DeletePortMappingCtx(ctx, "", uint16(mp.Port), "TCP")
	case "NAT-PMP":
		gw, _, err := gateway()
		if err != nil {
			return err
		}
		_, err = natpmp.NewClientWithTimeout(gw.AsSlice(), m.timeout()).AddPortMapping("tcp", mp.Port, 0, 0)
		return err
	}
	return nil
}

func (m Mapper) upnp(ctx context.Context, c igd, res *Mapping) {
	ctx, cancel := context.WithTimeout(ctx, 3*m.timeout())
	defer cancel()
	if ext, err := c.GetExternalIPAddressCtx(ctx); err == nil {
		res.External, _ = netip.ParseAddr(ext)
	}
	// A router that answers but has no public address of its own to
	// tell (miniupnpd will not report a reserved one) cannot forward
	// anything from the Internet either.
	if m.behindCGNAT(res) {
		return
	}
	err := c.AddPortMappingCtx(ctx, "", uint16(res.Port), "TCP", uint16(res.Port), res.Internal.String(), true, "toyhub remote access",
		uint32(m.lease()/time.Second))
	if err != nil {
		res.State, res.Message = MapRefused, refusedMessage(res.Port, err)
		return
	}
	// Read it back: some routers accept and do nothing.
	intPort, client, enabled, _, lease, err := c.GetSpecificPortMappingEntryCtx(ctx, "", uint16(res.Port), "TCP")
	if err != nil || int(intPort) != res.Port || client != res.Internal.String() || !enabled {
		res.State, res.Message = MapRefused, refusedMessage(res.Port, fmt.Errorf("the router says the port goes to %s:%d", client, intPort))
		return
	}
	res.State, res.Lease = MapDone, time.Duration(lease)*time.Second
	res.Message = fmt.Sprintf("The home router forwards port %d to the hub (by UPnP).", res.Port)
}

func (m Mapper) natpmp(gw netip.Addr, res *Mapping) bool {
	c := natpmp.NewClientWithTimeout(gw.AsSlice(), m.timeout())
	ext, err := c.GetExternalAddress()
	if err != nil {
		if !strings.Contains(err.Error(), "result code") {
			return false // no answer: no NAT-PMP router
		}
		// It answered, with an error (RFC 6886: "network failure",
		// the router has no public address of its own).
		res.Method = "NAT-PMP"
		m.behindCGNAT(res)
		return true
	}
	res.Method = "NAT-PMP"
	res.External = netip.AddrFrom4(ext.ExternalIPAddress)
	if m.behindCGNAT(res) {
		return true
	}
	r, err := c.AddPortMapping("tcp", res.Port, res.Port, int(m.lease()/time.Second))
	switch {
	case err != nil:
		res.State, res.Message = MapRefused, refusedMessage(res.Port, err)
	case int(r.MappedExternalPort) != res.Port:
		res.State, res.Message = MapRefused, refusedMessage(res.Port, fmt.Errorf("the router offered port %d instead", r.MappedExternalPort))
		c.AddPortMapping("tcp", res.Port, 0, 0)
	default:
		res.State, res.Lease = MapDone, time.Duration(r.PortMappingLifetimeInSeconds)*time.Second
		res.Message = fmt.Sprintf("The home router forwards port %d to the hub (by NAT-PMP).", res.Port)
	}
	return true
}

// behindCGNAT sets the carrier-grade NAT state when the router's own
// address on the Internet is not a public one, or when the router will
// not tell one (it answers, so the line is up, but it has no address
// that the Internet could reach).
func (m Mapper) behindCGNAT(res *Mapping) bool {
	a := res.External
	seen := "Your router's own address on the Internet, " + a.String() + ", is not a public one"
	switch {
	case !a.IsValid() || a.IsUnspecified():
		res.External = netip.Addr{}
		seen = "Your router answers, but has no public address on the Internet of its own"
	case a.IsPrivate() || cgnat.Contains(a) || a.IsLoopback():
	default:
		return false
	}
	res.State = MapCGNAT
	res.Message = seen + ": most often your provider shares one public address among " +
		"several customers (carrier-grade NAT), so nothing from outside can reach your home, whatever the router forwards. " +
		"Ask your provider for a public IPv4 address (some call it a \"fixed\" or \"dedicated\" IP), or for IPv6 to your home."
	return true
}

func noRouterMessage(port int, local netip.Addr) string {
	to := "the hub"
	if local.IsValid() {
		to = "the hub, " + local.String()
	}
	return fmt.Sprintf("No router on your home network maps ports by itself (UPnP or NAT-PMP). In your router's settings, under "+
		"\"port forwarding\", forward TCP port %d to %s, port %d.", port, to, port)
}

func refusedMessage(port int, err error) string {
	return fmt.Sprintf("Your router refused to forward port %d to the hub (%v). It may already forward that port to another machine: "+
		"choose another port, or change the forwarding in the router's settings.", port, err)
}

// findIGD finds the home router's UPnP gateway service on the LAN. The
// searches for each kind of gateway go out together: a search waits out
// its MX seconds (routers answer after a random delay up to it) and one
// more, so one after another they would take four times as long.
func (m Mapper) findIGD(ctx context.Context) (igd, bool) {
	const mx = 2
	// A search reads answers until its context's deadline.
	search, cancel := context.WithTimeout(ctx, (mx+1)*time.Second)
	defer cancel()
	ctx, cancelAll := context.WithTimeout(ctx, m.timeout()+(mx+1)*time.Second)
	defer cancelAll()
	targets := []string{internetgateway2.URN_WANConnectionDevice_2, internetgateway2.URN_WANConnectionDevice_1,
		"urn:schemas-upnp-org:device:InternetGatewayDevice:2", "urn:schemas-upnp-org:device:InternetGatewayDevice:1"}
	found := make(chan []*http.Response, len(targets))
	for _, target := range targets {
		go func() {
			hc, err := httpu.NewHTTPUClient() // one each: a client serves one search at a time
			if err != nil {
				found <- nil
				return
			}
			defer hc.Close()
			resps, _ := ssdp.RawSearch(search, hc, target, mx)
			found <- resps
		}()
	}
	seen := map[string]bool{}
	for range targets {
		for _, r := range <-found {
			if loc := r.Header.Get("Location"); !seen[loc] {
				seen[loc] = true
				if c, ok := m.igdAt(ctx, r); ok {
					return c, true
				}
			}
		}
	}
	return nil, false
}

// igdAt reads the description at a response's location, if it is on the
// LAN, and returns its first gateway service whose control URL is too.
func (m Mapper) igdAt(ctx context.Context, r *http.Response) (igd, bool) {
	loc, err := url.Parse(r.Header.Get("Location"))
	if err != nil || !lanURL(loc) {
		return nil, false
	}
	root, err := goupnp.DeviceByURLCtx(ctx, loc)
	if err != nil {
		return nil, false
	}
	if cs, err := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			if lanURL(&c.SOAPClient.EndpointURL) {
				return c, true
			}
		}
	}
	if cs, err := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			if lanURL(&c.SOAPClient.EndpointURL) {
				return c, true
			}
		}
	}
	if cs, err := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc); err == nil {
		for _, c := range cs {
			if lanURL(&c.SOAPClient.EndpointURL) {
				return c, true
			}
		}
	}
	return nil, false
}

// lanURL reports whether u names an address of the home network (a name
// would need a DNS look-up, which the hub does not make).
func lanURL(u *url.URL) bool {
	a, err := netip.ParseAddr(u.Hostname())
	return err == nil && onLAN(a) && (u.Scheme == "http" || u.Scheme == "https")
}

// gateway is the IPv4 default gateway, from the kernel's routing table,
// and the hub's address towards it; only a gateway on the LAN counts.
func gateway() (gw, local netip.Addr, err error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return gw, local, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[1] != "00000000" || fs[2] == "00000000" {
			continue
		}
		b, err := hex.DecodeString(fs[2])
		if err != nil || len(b) != 4 {
			continue
		}
		var ip [4]byte
		binary.LittleEndian.PutUint32(ip[:], binary.BigEndian.Uint32(b))
		gw = netip.AddrFrom4(ip)
		break
	}
	if !onLAN(gw) {
		return gw, local, errors.New("no default gateway on the LAN")
	}
	// A UDP "connection" sends nothing; it only picks the local address.
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 5351)))
	if err != nil {
		return gw, local, err
	}
	defer c.Close()
	local = c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return gw, local, nil
}
