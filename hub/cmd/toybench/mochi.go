package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/toyhub/toyhub/certs"
)

// serveMochiFlag makes this program a bare mochi broker: the hub's MQTT
// library alone, with the same mutual TLS as Mosquitto here (one listener
// requiring a client certificate from the bench's CA, TLS 1.2 or later),
// an allow-all hook and nothing else. Beside the hub and Mosquitto in the
// storm, it tells the hub's own cost from mochi's.
const serveMochiFlag = "--serve-mochi"

// serveMochi runs until SIGTERM, with the files newRelayServer wrote in
// dir, listening on addr.
func serveMochi(dir, addr string) error {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fmt.Fprintln(os.Stderr, "mochi:", err)
			os.Exit(1)
		}
		return b
	}
	cert, err := tls.X509KeyPair(read("server.pem"), read("server.key"))
	if err != nil {
		return err
	}
	ca, err := certs.ParseCert(read("ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := mqtt.New(&mqtt.Options{InlineClient: false, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "mtls", Address: addr, TLSConfig: cfg})); err != nil {
		return err
	}
	if err := srv.Serve(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	return srv.Close()
}
