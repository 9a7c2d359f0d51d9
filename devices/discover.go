package devices

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"
)

// Found is a hub seen by mDNS.
type Found struct {
	Instance string
	Host     string
	MQTT     []string // host:port
	Enroll   []string // host:port of the enrollment endpoint
	CA       string   // the first 16 hex digits of the CA key's pin
	Proto    int
}

// Discover browses for _toyhub._tcp for the given time on ifaces (all
// multicast interfaces if none).
func Discover(ctx context.Context, wait time.Duration, ifaces []net.Interface) ([]Found, error) {
	var opts []zeroconf.ClientOption
	if len(ifaces) > 0 {
		opts = append(opts, zeroconf.SelectIfaces(ifaces))
	}
	r, err := zeroconf.NewResolver(opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	entries := make(chan *zeroconf.ServiceEntry, 16)
	if err := r.Browse(ctx, "_toyhub._tcp", "local.", entries); err != nil {
		return nil, err
	}
	byName := map[string]*Found{}
	var order []string
	for {
		select {
		case e, ok := <-entries:
			if !ok {
				return collect(byName, order), nil
			}
			f := byName[e.Instance]
			if f == nil {
				f = &Found{Instance: e.Instance, Host: e.HostName}
				byName[e.Instance] = f
				order = append(order, e.Instance)
			}
			enroll := 0
			for _, t := range e.Text {
				k, v, _ := strings.Cut(t, "=")
				switch k {
				case "enroll":
					enroll, _ = strconv.Atoi(v)
				case "ca":
					f.CA = v
				case "proto":
					f.Proto, _ = strconv.Atoi(v)
				}
			}
			for _, ip := range append(slices.Clone(e.AddrIPv4), e.AddrIPv6...) {
				if ip.To4() == nil && ip.IsLinkLocalUnicast() {
					continue // useless without its zone, which mDNS does not carry
				}
				mqtt := net.JoinHostPort(ip.String(), strconv.Itoa(e.Port))
				if !slices.Contains(f.MQTT, mqtt) {
					f.MQTT = append(f.MQTT, mqtt)
					if enroll > 0 {
						f.Enroll = append(f.Enroll, net.JoinHostPort(ip.String(), strconv.Itoa(enroll)))
					}
				}
			}
		case <-ctx.Done():
			return collect(byName, order), nil
		}
	}
}

func collect(byName map[string]*Found, order []string) []Found {
	out := make([]Found, 0, len(order))
	for _, n := range order {
		out = append(out, *byName[n])
	}
	return out
}

// Interfaces looks up network interfaces by name.
func Interfaces(names []string) ([]net.Interface, error) {
	var out []net.Interface
	for _, n := range names {
		ifc, err := net.InterfaceByName(n)
		if err != nil {
			return nil, err
		}
		out = append(out, *ifc)
	}
	return out, nil
}
