package hub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/certs"
	"github.com/toyhub/toyhub/wire"
)

// mosquittoArgs are the connection flags for a bundle.
func (th *testHub) mosquittoArgs(b *certs.Bundle, withCert bool, clientID string) []string {
	host, port, _ := net.SplitHostPort(th.cfg.MQTTAddr)
	args := []string{"-h", host, "-p", port, "--cafile", filepath.Join(b.Dir, certs.BundleCA), "-i", clientID}
	if withCert {
		args = append(args, "--cert", filepath.Join(b.Dir, certs.BundleCert), "--key", filepath.Join(b.Dir, certs.BundleKey))
	}
	return args
}

func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// TestMosquittoInterop: the Debian mosquitto clients work with a bundle's
// ca.pem, cert.pem and key.pem, and are refused without them.
func TestMosquittoInterop(t *testing.T) {
	pub, sub := needTool(t, "mosquitto_pub"), needTool(t, "mosquitto_sub")
	th := startHub(t)
	bunny, gran := th.device("Bunny", "toy"), th.device("Grandma", "family")
	th.link("Bunny", "Grandma")
	me, her := bunny.Info.DeviceID, gran.Info.DeviceID

	// Built from docs/protocol.md alone, as a toy maker would: the
	// header is the document's example with this message's values, the
	// frame is laid out by its table, the topics spelt as it spells them.
	t.Run("upload with mosquitto_pub", func(t *testing.T) {
		msg := recording(1, 21) // 32,044 bytes: one chunk
		idBytes := make([]byte, 16)
		rand.Read(idBytes)
		id := hex.EncodeToString(idBytes)
		raw, err := os.ReadFile("../docs/protocol/vectors/header/valid.json")
		if err != nil {
			t.Fatal(err)
		}
		var h map[string]any
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(msg)
		h["id"], h["size"], h["sha256"], h["chunk"] = id, len(msg), hex.EncodeToString(sum[:]), 32768
		header, _ := json.Marshal(h)
		frameBytes := append([]byte{1, 0}, idBytes...)
		frameBytes = binary.BigEndian.AppendUint32(frameBytes, 0) // chunk 0
		frameBytes = binary.BigEndian.AppendUint32(frameBytes, 0) // at offset 0
		frameBytes = append(frameBytes, msg...)
		frame := filepath.Join(t.TempDir(), "chunk.bin")
		if err := os.WriteFile(frame, frameBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		base := th.mosquittoArgs(bunny, true, me)
		if out, err := runTool(t, pub, append(base, "-q", "1", "-t", "toyhub/v1/"+me+"/up/header", "-m", string(header))...); err != nil {
			t.Fatalf("mosquitto_pub header: %v\n%s", err, out)
		}
		if out, err := runTool(t, pub, append(base, "-q", "1", "-t", "toyhub/v1/"+me+"/up/chunk", "-f", frame)...); err != nil {
			t.Fatalf("mosquitto_pub chunk: %v\n%s", err, out)
		}
		got := receive(t, th.dial(gran), 1)
		mid, _ := wire.ParseMessageID(id)
		if !bytes.Equal(got[mid], msg) {
			t.Fatal("the message uploaded with mosquitto_pub did not arrive intact")
		}
	})

	t.Run("notification to mosquitto_sub", func(t *testing.T) {
		// Its notifications only: on down/# the hub's limits come first.
		args := append(th.mosquittoArgs(gran, true, her), "-q", "1", "-t", wire.DownTopic(her, wire.DownNotify), "-C", "1", "-W", "25", "-v")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sub, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		a := th.dial(bunny)
		// Notifications are not queued for a device that has not yet
		// subscribed (it syncs instead), so send until one arrives.
		for i := 0; ; i++ {
			if err := a.Send(context.Background(), wire.NewMessageID(), recording(1, uint32(i)), nil); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("mosquitto_sub: %v\n%s", err, out.String())
				}
				line := strings.TrimSpace(out.String())
				topic, payload, _ := strings.Cut(line, " ")
				var n wire.Notify
				if topic != wire.DownTopic(her, wire.DownNotify) || wire.Decode([]byte(payload), &n) != nil || n.From != me || n.FromName != "Bunny" {
					t.Fatalf("mosquitto_sub printed %q", line)
				}
				return
			case <-time.After(500 * time.Millisecond):
				if i > 40 {
					t.Fatalf("mosquitto_sub received nothing: %s", out.String())
				}
			}
		}
	})

	refusals := []struct {
		name string
		tool string
		args []string
		want string // in the output; "" means only a non-zero exit
	}{
		{"mosquitto_pub without a certificate", pub,
			append(th.mosquittoArgs(bunny, false, me), "-t", wire.UpTopic(me, wire.UpSync), "-m", "{}"), ""},
		{"mosquitto_sub without a certificate", sub,
			append(th.mosquittoArgs(bunny, false, me), "-t", wire.DownFilter(me), "-C", "1", "-W", "5"), ""},
		{"mosquitto_pub with another device's client ID", pub,
			append(th.mosquittoArgs(bunny, true, her), "-q", "1", "-t", wire.UpTopic(her, wire.UpSync), "-m", "{}"), "not authorised"},
		{"mosquitto_pub to another device's topic", pub,
			append(th.mosquittoArgs(bunny, true, me), "-q", "1", "-t", wire.UpTopic(her, wire.UpSync), "-m", "{}"), ""},
		{"mosquitto_sub to #", sub,
			append(th.mosquittoArgs(bunny, true, me), "-t", "#", "-C", "1", "-W", "5"), "denied"},
		{"mosquitto_sub to $SYS/#", sub,
			append(th.mosquittoArgs(bunny, true, me), "-t", "$SYS/#", "-C", "1", "-W", "5"), "denied"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runTool(t, tt.tool, tt.args...)
			if tt.want == "" && err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if tt.want != "" && !strings.Contains(out, tt.want) {
				t.Fatalf("output lacks %q (err %v):\n%s", tt.want, err, out)
			}
		})
	}
}
