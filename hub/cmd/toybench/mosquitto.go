package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/toyhub/toyhub/certs"
)

// measureMosquitto runs the same closed loop through Mosquitto, a relay
// that stores nothing, configured with the same mutual TLS (ECDSA P-256,
// client certificates required): the reference the hub is compared with.
func measureMosquitto(bin, dir string, pairs int, wav []byte, duration time.Duration) (Result, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, err
	}
	now := time.Now()
	ca, _, err := certs.NewCA(now)
	if err != nil {
		return Result{}, err
	}
	_, srv, srvKey, err := ca.IssueServer([]string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, now)
	if err != nil {
		return Result{}, err
	}
	files := map[string][]byte{"ca.pem": ca.PEM, "server.pem": srv.PEM, "server.key": srvKey}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return Result{}, err
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return Result{}, err
	}
	host, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`listener %s %s
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
persistence false
set_tcp_nodelay true
log_dest none
`, port, host, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if os.Geteuid() == 0 {
		// Started as root, Mosquitto drops to its own user, which cannot
		// read the 0600 key in this 0700 directory.
		conf += "user root\n"
	}
	confPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return Result{}, err
	}
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			return Result{}, errors.New("mosquitto did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}

	dial := func(id string, onMsg paho.MessageHandler) (paho.Client, error) {
		key, _ := certs.NewKey()
		iss, err := ca.IssueClient(&key.PublicKey, id, time.Hour, now)
		if err != nil {
			return nil, err
		}
		tc := certs.ClientTLS(ca.Pool(), tls.Certificate{Certificate: [][]byte{iss.Cert.Raw}, PrivateKey: key, Leaf: iss.Cert}, "")
		o := paho.NewClientOptions().AddBroker("tls://" + addr).SetClientID(id).SetTLSConfig(tc).
			SetAutoReconnect(false).SetDefaultPublishHandler(onMsg)
		c := paho.NewClient(o)
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("connect %s: %v", id, t.Error())
		}
		return c, nil
	}

	got := make([]chan struct{}, pairs)
	pubs := make([]paho.Client, pairs)
	for i := range pairs {
		got[i] = make(chan struct{}, 1)
		b, err := dial(fmt.Sprintf("friend-%d", i), func(paho.Client, paho.Message) { got[i] <- struct{}{} })
		if err != nil {
			return Result{}, err
		}
		defer b.Disconnect(0)
		if t := b.Subscribe(fmt.Sprintf("bench/%d", i), 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return Result{}, fmt.Errorf("subscribe: %v", t.Error())
		}
		if pubs[i], err = dial(fmt.Sprintf("toy-%d", i), nil); err != nil {
			return Result{}, err
		}
		defer pubs[i].Disconnect(0)
	}
	_, cpu0, _ := procStats(cmd.Process.Pid)
	lat, err := closedLoop(pairs, duration, func(i int) (time.Duration, error) {
		t0 := time.Now()
		pubs[i].Publish(fmt.Sprintf("bench/%d", i), 1, false, wav)
		select {
		case <-got[i]:
			return time.Since(t0), nil
		case <-time.After(30 * time.Second):
			return 0, errors.New("mosquitto did not deliver within 30 s")
		}
	})
	if err != nil {
		return Result{}, err
	}
	peak, cpu1, err := procStats(cmd.Process.Pid)
	if err != nil {
		return Result{}, err
	}
	return result(fmt.Sprintf("mosquitto: %d pair(s), relay only", pairs), lat, len(wav), duration, cpu1-cpu0, peak), nil
}
