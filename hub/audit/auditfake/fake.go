// Package auditfake runs fake versions of the services the network scan
// looks for (MongoDB, MQTT, Redis, Elasticsearch, CouchDB, Telnet and a
// UPnP gateway), for tests only, like net/http/httptest. Each can be made
// to answer as an exposed service or as a protected one.
package auditfake

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Mapping is a port forward the fake gateway reports.
type Mapping struct {
	ExternalPort, InternalPort int
	InternalClient             string
	Description                string
}

// Options say which services run and how exposed each is. A port of -1
// leaves a service off; 0 picks a free port.
type Options struct {
	Host                                       string
	Mongo, MQTT, Redis, Elastic, Couch, Telnet int
	SSDP, IGD                                  int // UDP for SSDP; TCP for the gateway's HTTP
	Protected                                  bool
	Mappings                                   []Mapping
	// LocationHost is the address the gateway names in its SSDP answer
	// (default Host, or 127.0.0.1 when Host is empty).
	LocationHost string
}

// Services are the running fakes and their ports.
type Services struct {
	Ports   map[string]int // by the scan's service names, "upnp" for SSDP
	closers []func()
	wg      sync.WaitGroup
}

// Close stops every fake.
func (s *Services) Close() {
	for _, c := range s.closers {
		c()
	}
	s.wg.Wait()
}

// Start runs the fakes chosen in o.
func Start(o Options) (*Services, error) {
	s := &Services{Ports: map[string]int{}}
	tcp := func(name string, port int, serve func(net.Conn)) error {
		if port < 0 {
			return nil
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(port)))
		if err != nil {
			return err
		}
		s.Ports[name] = ln.Addr().(*net.TCPAddr).Port
		s.closers = append(s.closers, func() { ln.Close() })
		s.wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					serve(c)
				}()
			}
		})
		return nil
	}
	httpSrv := func(name string, port int, h http.Handler) error {
		if port < 0 {
			return nil
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(port)))
		if err != nil {
			return err
		}
		s.Ports[name] = ln.Addr().(*net.TCPAddr).Port
		srv := &http.Server{Handler: h}
		s.closers = append(s.closers, func() { srv.Close() })
		s.wg.Go(func() { _ = srv.Serve(ln) })
		return nil
	}
	err := errors.Join(
		tcp("mongodb", o.Mongo, func(c net.Conn) { mongo(c, o.Protected) }),
		tcp("redis", o.Redis, func(c net.Conn) { redis(c, o.Protected) }),
		tcp("telnet", o.Telnet, func(c net.Conn) { io.WriteString(c, "\xff\xfb\x01login: ") }),
		httpSrv("elasticsearch", o.Elastic, elastic(o.Protected)),
		httpSrv("couchdb", o.Couch, couch(o.Protected)),
		s.mqtt(o),
		s.upnp(o),
	)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Services) mqtt(o Options) error {
	if o.MQTT < 0 {
		return nil
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if o.Protected {
		if err := srv.AddHook(new(denyAll), nil); err != nil {
			return err
		}
	} else if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	l := listeners.NewTCP(listeners.Config{ID: "fake", Address: net.JoinHostPort(o.Host, fmt.Sprint(o.MQTT))})
	if err := srv.AddListener(l); err != nil {
		return err
	}
	if err := srv.Serve(); err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(l.Address())
	var p int
	fmt.Sscan(port, &p)
	s.Ports["mqtt"] = p
	s.closers = append(s.closers, func() { srv.Close() })
	return nil
}

// denyAll refuses every client, as a broker with passwords refuses one
// without.
type denyAll struct{ mqtt.HookBase }

func (h *denyAll) ID() string { return "deny-all" }
func (h *denyAll) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}
func (h *denyAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return false }
func (h *denyAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return false }

// mongo answers OP_MSG: hello always, listDatabases unless protected.
func mongo(c net.Conn, protected bool) {
	for {
		var hdr [16]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint32(hdr[:]))
		if n < 21 || n > 1<<20 {
			return
		}
		body := make([]byte, n-16)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		cmd := body[5:]
		var reply []byte
		switch {
		case bytes.Contains(cmd, []byte("hello\x00")):
			reply = doc(field(0x08, "isWritablePrimary", []byte{1}), field(0x10, "maxWireVersion", le32(17)), field(0x01, "ok", f64one))
		case bytes.Contains(cmd, []byte("listDatabases\x00")) && !protected:
			dbs := doc(field(0x03, "0", doc(field(0x02, "name", str("cloudpets")))), field(0x03, "1", doc(field(0x02, "name", str("admin")))))
			reply = doc(field(0x04, "databases", dbs), field(0x01, "ok", f64one))
		default:
			reply = doc(field(0x01, "ok", make([]byte, 8)), field(0x02, "errmsg", str("command requires authentication")),
				field(0x10, "code", le32(13)))
		}
		var out bytes.Buffer
		binary.Write(&out, binary.LittleEndian, []int32{int32(16 + 5 + len(reply)), 1, int32(binary.LittleEndian.Uint32(hdr[4:])), 2013, 0})
		out.WriteByte(0)
		out.Write(reply)
		if _, err := c.Write(out.Bytes()); err != nil {
			return
		}
	}
}

var f64one = []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}

func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }
func str(s string) []byte { return append(append(le32(int32(len(s)+1)), s...), 0) }
func field(t byte, key string, v []byte) []byte {
	return append(append(append([]byte{t}, key...), 0), v...)
}
func doc(fields ...[]byte) []byte {
	b := bytes.Join(fields, nil)
	return append(append(le32(int32(len(b)+5)), b...), 0)
}

func redis(c net.Conn, protected bool) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(line)), "PING") {
			if protected {
				io.WriteString(c, "-NOAUTH Authentication required.\r\n")
			} else {
				io.WriteString(c, "+PONG\r\n")
			}
		}
	}
}

func elastic(protected bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if protected {
			w.Header().Set("WWW-Authenticate", `Basic realm="security"`)
			http.Error(w, `{"error":"security_exception"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"name":"node-1","cluster_name":"toys","version":{"number":"7.10.2"},"tagline":"You Know, for Search"}`)
	})
}

func couch(protected bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/_session":
			roles := `["_admin"]`
			if protected {
				roles = `[]`
			}
			io.WriteString(w, `{"ok":true,"userCtx":{"name":null,"roles":`+roles+`}}`)
		case "/_all_dbs":
			if protected {
				http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
				return
			}
			io.WriteString(w, `["recordings"]`)
		default:
			http.NotFound(w, r)
		}
	})
}

// upnp runs SSDP on UDP and the gateway's description and control on
// HTTP, answering unicast M-SEARCH with its LOCATION.
func (s *Services) upnp(o Options) error {
	if o.SSDP < 0 || o.IGD < 0 {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rootDesc.xml", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device>
<deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>/ctl/IPConn</controlURL>
</service></serviceList></device></deviceList></device></deviceList></device></root>`)
	})
	mux.HandleFunc("POST /ctl/IPConn", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var i int
		if k := bytes.Index(b, []byte("<NewPortMappingIndex>")); k >= 0 {
			fmt.Sscan(string(b[k+len("<NewPortMappingIndex>"):]), &i)
		}
		if i >= len(o.Mappings) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultstring>UPnPError</faultstring><detail><UPnPError><errorCode>713</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
			return
		}
		m := o.Mappings[i]
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<u:GetGenericPortMappingEntryResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">
<NewRemoteHost></NewRemoteHost><NewExternalPort>%d</NewExternalPort><NewProtocol>TCP</NewProtocol><NewInternalPort>%d</NewInternalPort>
<NewInternalClient>%s</NewInternalClient><NewEnabled>1</NewEnabled><NewPortMappingDescription>%s</NewPortMappingDescription>
<NewLeaseDuration>0</NewLeaseDuration></u:GetGenericPortMappingEntryResponse></s:Body></s:Envelope>`,
			m.ExternalPort, m.InternalPort, m.InternalClient, m.Description)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, fmt.Sprint(o.IGD)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	s.closers = append(s.closers, func() { srv.Close() })
	s.wg.Go(func() { _ = srv.Serve(ln) })
	host := o.LocationHost
	if host == "" {
		host = o.Host
	}
	if host == "" {
		host = "127.0.0.1"
	}
	loc := "http://" + net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)) + "/rootDesc.xml"

	pc, err := net.ListenPacket("udp4", net.JoinHostPort(o.Host, fmt.Sprint(o.SSDP)))
	if err != nil {
		return err
	}
	s.Ports["upnp"] = pc.LocalAddr().(*net.UDPAddr).Port
	s.Ports["igd"] = ln.Addr().(*net.TCPAddr).Port
	s.closers = append(s.closers, func() { pc.Close() })
	s.wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if bytes.HasPrefix(buf[:n], []byte("M-SEARCH")) {
				fmt.Fprintf(packetWriter{pc, from}, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:fake::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Linux UPnP/1.1 fake/1.0\r\nLOCATION: %s\r\n\r\n", loc)
			}
		}
	})
	return nil
}

type packetWriter struct {
	pc net.PacketConn
	to net.Addr
}

func (p packetWriter) Write(b []byte) (int, error) { return p.pc.WriteTo(b, p.to) }
