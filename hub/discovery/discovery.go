// Package discovery announces the hub by mDNS on the home LAN, so that a
// toy being paired finds it without being told an address. Anyone on the
// LAN can read the records, so they carry the protocol version, the ports
// and a short fingerprint of the CA's key, never a name: the instance is
// "toyhub-<fingerprint>". The hub sends nothing beyond the LAN
// interfaces (lan.Interfaces): never on container bridges or VPNs.
package discovery

import (
	"crypto/x509"
	"log/slog"
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

// Options say what to advertise, and where.
type Options struct {
	// Interfaces limits the announcements to these interfaces (empty:
	// the LAN interfaces).
	Interfaces []string
	// Refresh is how often to look for changed interfaces and addresses.
	Refresh time.Duration
	// MQTTAddr and EnrollAddr are the bound addresses whose ports are
	// advertised.
	MQTTAddr, EnrollAddr string
	CA                   *x509.Certificate
	Log                  *slog.Logger
}

// Advertiser announces the hub until Close.
type Advertiser struct {
	o       Options
	mu      sync.Mutex
	servers []*zeroconf.Server
	sig     string
	stop    chan struct{}
	done    chan struct{}
}

// ShortPin is the CA fingerprint advertised by mDNS.
func ShortPin(pin string) string { return pin[:16] }

// New makes an advertiser; Run announces.
func New(o Options) *Advertiser {
	return &Advertiser{o: o, stop: make(chan struct{}), done: make(chan struct{})}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// txt is the TXT record of _toyhub._tcp.
func (a *Advertiser) txt() []string {
	return []string{
		"txtvers=1",
		"proto=" + strconv.Itoa(wire.Version),
		"enroll=" + strconv.Itoa(portOf(a.o.EnrollAddr)),
		"ca=" + ShortPin(certs.Pin(a.o.CA)),
	}
}

// refresh registers the services on the current LAN interfaces, or again
// when their set or addresses changed since the last call.
func (a *Advertiser) refresh() {
	ifaces := lan.Interfaces(a.o.Interfaces)
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
		a.o.Log.Warn("Not advertised by mDNS: no LAN interface", "interfaces", strings.Join(a.o.Interfaces, ","))
		return
	}
	instance := "toyhub-" + ShortPin(certs.Pin(a.o.CA))[:8]
	mqttPort := portOf(a.o.MQTTAddr)
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
			a.o.Log.Error("mDNS registration failed", "service", svc.typ, "error", err)
			continue
		}
		a.servers = append(a.servers, srv)
	}
	names := make([]string, len(nifs))
	for i, ifc := range nifs {
		names[i] = ifc.Name
	}
	a.o.Log.Info("Advertised by mDNS", "instance", instance, "interfaces", strings.Join(names, ","), "addresses", sig)
}

func (a *Advertiser) shutdownLocked() {
	for _, s := range a.servers {
		s.Shutdown()
	}
	a.servers = nil
}

// Run announces the hub, and again when the LAN changes, until Close.
func (a *Advertiser) Run() {
	defer close(a.done)
	a.refresh()
	t := time.NewTicker(a.o.Refresh)
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

// Close withdraws the announcements and waits for Run to return.
func (a *Advertiser) Close() {
	close(a.stop)
	<-a.done
}
