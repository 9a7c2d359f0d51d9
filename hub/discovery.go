package hub

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/hub/lan"
	"github.com/toyhub/toyhub/wire"
)

// mDNS service types the hub advertises.
const (
	ServiceToyhub = "_toyhub._tcp"
	ServiceMQTT   = "_secure-mqtt._tcp"
)

// advertiser announces the hub by mDNS on the LAN interfaces. Anyone on
// the LAN can read the records, so they carry the protocol version, the
// ports and a short fingerprint of the CA's key, never a name: the
// instance is "toyhub-<fingerprint>".
type advertiser struct {
	h       *Hub
	mu      sync.Mutex
	servers []*zeroconf.Server
	sig     string
	stop    chan struct{}
	done    chan struct{}
}

// ShortPin is the CA fingerprint advertised by mDNS.
func ShortPin(pin string) string { return pin[:16] }

func newAdvertiser(h *Hub) *advertiser {
	return &advertiser{h: h, stop: make(chan struct{}), done: make(chan struct{})}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// txt is the TXT record of _toyhub._tcp.
func (a *advertiser) txt() []string {
	return []string{
		"txtvers=1",
		"proto=" + strconv.Itoa(wire.Version),
		"enroll=" + strconv.Itoa(portOf(a.h.enroll.addr())),
		"ca=" + ShortPin(certs.Pin(a.h.ca.Cert)),
	}
}

// refresh registers the services on the current LAN interfaces, or again
// when their set or addresses changed since the last call.
func (a *advertiser) refresh() {
	ifaces := lan.Interfaces(a.h.cfg.DiscoveryInterfaces)
	var parts []string
	var nifs []net.Interface
	for _, li := range ifaces {
		if li.Flags&net.FlagMulticast == 0 {
			continue
		}
		nifs = append(nifs, li.Interface)
		for _, ip := range li.Addrs {
			parts = append(parts, li.Name+"="+ip.String())
		}
	}
	slices.Sort(parts)
	sig := strings.Join(parts, ",")
	a.mu.Lock()
	defer a.mu.Unlock()
	if sig == a.sig && (len(a.servers) > 0 || sig == "") {
		return
	}
	a.shutdownLocked()
	a.sig = sig
	if len(nifs) == 0 {
		// zeroconf would pick every multicast interface when given none.
		a.h.log.Warn("Not advertised by mDNS: no LAN interface", "interfaces", strings.Join(a.h.cfg.DiscoveryInterfaces, ","))
		return
	}
	instance := "toyhub-" + ShortPin(certs.Pin(a.h.ca.Cert))[:8]
	mqttPort := portOf(a.h.lis.Address())
	for _, svc := range []struct {
		typ  string
		port int
		txt  []string
	}{
		{ServiceToyhub, mqttPort, a.txt()},
		{ServiceMQTT, mqttPort, []string{"txtvers=1"}},
	} {
		srv, err := zeroconf.Register(instance, svc.typ, "local.", svc.port, svc.txt, nifs)
		if err != nil {
			a.h.log.Error("mDNS registration failed", "service", svc.typ, "error", err)
			continue
		}
		a.servers = append(a.servers, srv)
	}
	names := make([]string, len(nifs))
	for i, ifc := range nifs {
		names[i] = ifc.Name
	}
	a.h.log.Info("Advertised by mDNS", "instance", instance, "interfaces", strings.Join(names, ","), "addresses", sig)
}

func (a *advertiser) shutdownLocked() {
	for _, s := range a.servers {
		s.Shutdown()
	}
	a.servers = nil
}

func (a *advertiser) run() {
	defer close(a.done)
	a.refresh()
	t := time.NewTicker(a.h.cfg.DiscoveryRefresh)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			a.mu.Lock()
			a.shutdownLocked()
			a.mu.Unlock()
			return
		case <-t.C:
			a.refresh()
		}
	}
}

func (a *advertiser) close() {
	close(a.stop)
	<-a.done
}
