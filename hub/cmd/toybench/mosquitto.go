package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
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

	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    []error
		wg      sync.WaitGroup
		warmup  = time.Now().Add(time.Second)
		stop    = warmup.Add(duration)
		counted int
	)
	_, cpu0, _ := procStats(cmd.Process.Pid)
	for i := range pairs {
		got := make(chan struct{}, 1)
		topic := fmt.Sprintf("bench/%d", i)
		b, err := dial(fmt.Sprintf("friend-%d", i), func(paho.Client, paho.Message) { got <- struct{}{} })
		if err != nil {
			return Result{}, err
		}
		defer b.Disconnect(0)
		if t := b.Subscribe(topic, 1, nil); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return Result{}, fmt.Errorf("subscribe: %v", t.Error())
		}
		a, err := dial(fmt.Sprintf("toy-%d", i), nil)
		if err != nil {
			return Result{}, err
		}
		defer a.Disconnect(0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				a.Publish(topic, 1, false, wav)
				select {
				case <-got:
				case <-time.After(30 * time.Second):
					mu.Lock()
					errs = append(errs, errors.New("mosquitto did not deliver within 30 s"))
					mu.Unlock()
					return
				}
				d := time.Since(t0)
				mu.Lock()
				if t0.After(warmup) && time.Now().Before(stop) {
					lat = append(lat, d)
					counted++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	peak, cpu1, err := procStats(cmd.Process.Pid)
	if err != nil {
		return Result{}, err
	}
	if len(errs) > 0 {
		return Result{}, errs[0]
	}
	el := duration.Seconds()
	return Result{
		Name: fmt.Sprintf("mosquitto: %d pair(s), relay only", pairs), Messages: counted,
		MsgPerSec: float64(counted) / el, MBPerSec: float64(counted*len(wav)) / el / 1e6,
		P50ms: percentile(lat, .5), P99ms: percentile(lat, .99),
		HubCPU: (cpu1 - cpu0).Seconds() / (el + 1), HubPeakRSS: peak,
	}, nil
}
