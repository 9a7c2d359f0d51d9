package certs

import (
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimitTickets: a ticket is resumed while the key that sealed it is
// under an hour old, and never after, with TLS 1.3 and 1.2 (keys are made
// every half hour); with tickets off, nothing is resumed.
func TestLimitTickets(t *testing.T) {
	start := time.Now()
	ca, _, err := NewCA(start)
	if err != nil {
		t.Fatal(err)
	}
	cert, _, _, err := ca.IssueServer([]string{"localhost"}, nil, time.Hour*24, start)
	if err != nil {
		t.Fatal(err)
	}
	var offset atomic.Int64
	now := func() time.Time { return start.Add(time.Duration(offset.Load())) }
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			offset.Store(0)
			srv := LimitTickets(WebTLS(getCert), time.Hour, now)
			addr := serveTLS(t, srv)
			client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: version, ClientSessionCache: tls.NewLRUClientSessionCache(4)}
			steps := []struct {
				name   string
				at     time.Duration
				resume bool
			}{
				{"first", 0, false},
				{"within the hour", 20 * time.Minute, true},
				{"its key is over an hour old", 61 * time.Minute, false},
				{"a new session resumes", 62 * time.Minute, true},
				{"with a newer key, within the hour", 100 * time.Minute, true},
				{"a day later", 24 * time.Hour, false},
			}
			for _, s := range steps {
				offset.Store(int64(s.at))
				if got := handshake(t, addr, client); got != s.resume {
					t.Fatalf("%s: resumed %v, want %v", s.name, got, s.resume)
				}
			}
		})
	}
	t.Run("enrollment: none", func(t *testing.T) {
		addr := serveTLS(t, EnrollServerTLS(getCert, ca.Cert))
		client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		handshake(t, addr, client)
		if handshake(t, addr, client) {
			t.Fatal("an enrollment session was resumed")
		}
	})
}

// serveTLS accepts TLS connections on loopback, writes one byte on each
// (so that a TLS 1.3 client reads its ticket) and closes it once the
// client has.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := c.Write([]byte{1}); err == nil {
					io.Copy(io.Discard, c) // until the client closes
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake connects and reports whether the session was resumed.
func handshake(t *testing.T, addr string, cfg *tls.Config) bool {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return c.ConnectionState().DidResume
}
