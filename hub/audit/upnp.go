package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UPnP IGD: a router that lets devices open ports to the Internet. The
// scan asks each target by unicast SSDP (never multicast: that would reach
// addresses outside the targets), reads the description it points to (only
// if that is a target too), and lists the port mappings.

const ssdpSearch = "M-SEARCH * HTTP/1.1\r\nHOST: %s\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"

func probeUPnP(ctx context.Context, s *scanner, ap netip.AddrPort) []Finding {
	loc, err := s.ssdp(ctx, ap)
	if err != nil || loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil
	}
	locAP, err := netip.ParseAddrPort(u.Host)
	if err != nil || !s.targets[locAP.Addr()] {
		f := finding(Low, ap, "A UPnP gateway points outside the scan", "UPnP (SSDP) on "+ap.String(),
			"its description is at "+loc+", which is not one of the scan's targets", "Scan that address too to see its port mappings.")
		return []Finding{*f}
	}
	control, err := s.igdControl(ctx, u)
	if err != nil {
		return nil
	}
	var out []Finding
	for i := 0; i < 64; i++ {
		m, err := s.portMapping(ctx, control, i)
		if err != nil {
			break
		}
		client, _ := netip.ParseAddr(m.InternalClient)
		port, _ := strconv.Atoi(m.InternalPort)
		ext, _ := strconv.Atoi(m.ExternalPort)
		sev, what := Medium, "a device on your network"
		if slices.Contains(s.opt.Self, client) {
			if s.opt.Remote != 0 && port == s.opt.Remote && ext == s.opt.Remote && strings.EqualFold(m.Protocol, "TCP") {
				out = append(out, Finding{Check: "network", Severity: Info, Host: ap.Addr().String(), Port: int(ap.Port()),
					Title:   "Your router forwards the remote access port to the hub, as remote access asked",
					Checked: "the router's UPnP port mappings (GetGenericPortMappingEntry)",
					Seen:    fmt.Sprintf("Internet port %s/%s goes to %s:%s (%q)", m.ExternalPort, m.Protocol, m.InternalClient, m.InternalPort, m.Description)})
				continue
			}
			// Any other way in from the Internet to the hub bypasses the
			// one door that checks certificates first.
			sev, what = High, "this hub"
		}
		out = append(out, Finding{Check: "network", Severity: sev, Host: ap.Addr().String(), Port: int(ap.Port()),
			Title:   "Your router forwards a port from the Internet to " + what,
			Checked: "the router's UPnP port mappings (GetGenericPortMappingEntry)",
			Seen: fmt.Sprintf("Internet port %s/%s goes to %s:%s (%q, enabled %s)", m.ExternalPort, m.Protocol, m.InternalClient, m.InternalPort,
				m.Description, m.Enabled),
			Fix: "In the router's settings, delete this port forward and turn UPnP off, unless you opened it on purpose. Anything it forwards to can be reached by anyone on the Internet."})
	}
	return out
}

// ssdp sends a unicast M-SEARCH and returns the LOCATION of the answer.
func (s *scanner) ssdp(ctx context.Context, ap netip.AddrPort) (string, error) {
	if err := s.guard(ap); err != nil {
		return "", err
	}
	if err := s.wait(ctx); err != nil {
		return "", err
	}
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(s.opt.Timeout))
	if _, err := fmt.Fprintf(c, ssdpSearch, ap.String()); err != nil {
		return "", err
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), nil)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Header.Get("Location"), nil
}

type upnpService struct {
	ServiceType string `xml:"serviceType"`
	ControlURL  string `xml:"controlURL"`
}

type upnpDevice struct {
	Services []upnpService `xml:"serviceList>service"`
	Devices  []upnpDevice  `xml:"deviceList>device"`
}

func (d upnpDevice) find(types ...string) string {
	for _, s := range d.Services {
		for _, t := range types {
			if strings.HasPrefix(s.ServiceType, t) {
				return s.ControlURL
			}
		}
	}
	for _, sub := range d.Devices {
		if c := sub.find(types...); c != "" {
			return c
		}
	}
	return ""
}

// igdControl reads a gateway's description and returns the control URL
// of its WAN connection service.
func (s *scanner) igdControl(ctx context.Context, loc *url.URL) (*url.URL, error) {
	ap, _ := netip.ParseAddrPort(loc.Host)
	resp, body, err := s.get(ctx, ap, loc.RequestURI())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("description: HTTP %d", resp.StatusCode)
	}
	var root struct {
		URLBase string     `xml:"URLBase"`
		Device  upnpDevice `xml:"device"`
	}
	if err := xml.Unmarshal(body, &root); err != nil {
		return nil, err
	}
	ctl := root.Device.find("urn:schemas-upnp-org:service:WANIPConnection:", "urn:schemas-upnp-org:service:WANPPPConnection:")
	if ctl == "" {
		return nil, fmt.Errorf("no WAN connection service")
	}
	base := loc
	if root.URLBase != "" {
		if b, err := url.Parse(root.URLBase); err == nil {
			base = b
		}
	}
	return base.Parse(ctl)
}

type portMapping struct {
	ExternalPort   string `xml:"Body>GetGenericPortMappingEntryResponse>NewExternalPort"`
	Protocol       string `xml:"Body>GetGenericPortMappingEntryResponse>NewProtocol"`
	InternalPort   string `xml:"Body>GetGenericPortMappingEntryResponse>NewInternalPort"`
	InternalClient string `xml:"Body>GetGenericPortMappingEntryResponse>NewInternalClient"`
	Enabled        string `xml:"Body>GetGenericPortMappingEntryResponse>NewEnabled"`
	Description    string `xml:"Body>GetGenericPortMappingEntryResponse>NewPortMappingDescription"`
}

const soapEntry = `<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body><u:GetGenericPortMappingEntry xmlns:u="%s"><NewPortMappingIndex>%d</NewPortMappingIndex></u:GetGenericPortMappingEntry></s:Body>
</s:Envelope>`

// portMapping asks for the i-th port mapping; a SOAP fault (past the
// last one) is an error.
func (s *scanner) portMapping(ctx context.Context, control *url.URL, i int) (portMapping, error) {
	ap, err := netip.ParseAddrPort(control.Host)
	if err != nil {
		return portMapping{}, err
	}
	if !s.targets[ap.Addr()] {
		return portMapping{}, errNotTarget
	}
	const svc = "urn:schemas-upnp-org:service:WANIPConnection:1"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, control.String(), strings.NewReader(fmt.Sprintf(soapEntry, svc, i)))
	if err != nil {
		return portMapping{}, err
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", `"`+svc+`#GetGenericPortMappingEntry"`)
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return portMapping{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return portMapping{}, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var m portMapping
	if err := xml.Unmarshal(body, &m); err != nil {
		return portMapping{}, err
	}
	if m.ExternalPort == "" {
		return portMapping{}, fmt.Errorf("no mapping %d", i)
	}
	return m, nil
}
