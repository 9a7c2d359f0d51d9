package hub_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/store"
	"github.com/toyhub/toyhub/wire"
)

// TestSystemdNotify: started by systemd as Type=notify with a watchdog,
// the hub says READY=1 once it serves, pings WATCHDOG=1 while healthy,
// and says STOPPING=1 when it stops.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000") // pings every 100 ms
	t.Setenv("WATCHDOG_PID", "")
	th := startHub(t)
	got := map[string]int{}
	buf := make([]byte, 512)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got["WATCHDOG=1"] < 3 {
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			got[line]++
		}
	}
	if got["READY=1"] != 1 {
		t.Fatalf("READY=1 sent %d times", got["READY=1"])
	}
	th.stop()
	for {
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("no STOPPING=1: %v", err)
		}
		if string(buf[:n]) == "STOPPING=1" {
			return
		}
	}
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHealthAndMetrics: /healthz and /metrics on loopback, counting what
// the hub does.
func TestHealthAndMetrics(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	base := "http://" + th.h.MetricsAddr()
	if !strings.HasPrefix(th.h.MetricsAddr(), "127.0.0.1:") {
		t.Fatalf("metrics on %s", th.h.MetricsAddr())
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/"); code != 404 {
		t.Fatalf("anything else: %d", code)
	}
	mum := th.setupOwner(t)
	a, b := th.device("Teddy", "toy"), th.device("Bunny", "toy")
	th.link("Teddy", "Bunny")
	ca, cb := th.dial(a), th.dial(b)
	wav := recording(1, 1)
	if err := ca.Send(context.Background(), wire.NewMessageID(), wav, []string{"Bunny"}); err != nil {
		t.Fatal(err)
	}
	receive(t, cb, 1)
	mum.post("/logout", url.Values{})
	th.webClient(t).post("/login", url.Values{"login": {"Mum"}, "password": {"wrong wrong wrong wrong"}})
	for range 3 {
		if c, err := net.Dial("tcp", th.h.MQTTAddr()); err == nil {
			c.Write([]byte("not TLS"))
			c.Read(make([]byte, 1))
			c.Close()
		}
	}
	var body string
	for range 100 {
		_, body = httpGet(t, base+"/metrics")
		if strings.Contains(body, "toyhub_messages_delivered_total 1") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		"toyhub_devices_connected 2", "toyhub_messages_stored_total 1", "toyhub_messages_delivered_total 1",
		"toyhub_message_bytes_total " + strconv.Itoa(len(wav)), "toyhub_login_failures_total 1", "toyhub_last_backup_age_seconds -1",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(body, "toyhub_tls_handshake_failures_total 3") || !strings.Contains(body, "toyhub_store_bytes ") {
		t.Errorf("metrics:\n%s", grep(body, "toyhub_"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

const backupPass = "cinnamon harbour violin keystone"

// TestBackupUnderLoad: a backup taken while toys keep sending restores to
// a hub holding exactly the messages committed at that moment, each
// byte-identical: all those sent before the backup began, and none that
// was not committed.
func TestBackupUnderLoad(t *testing.T) {
	th := startHub(t)
	a, b := th.device("Teddy", "toy"), th.device("Bunny", "toy")
	th.link("Teddy", "Bunny")
	ca := th.dial(a)
	var (
		mu   sync.Mutex
		sent = map[string][32]byte{} // committed, by message ID
	)
	send := func(seed uint32) {
		wav := recording(0.5, seed)
		id := wire.NewMessageID()
		if err := ca.Send(context.Background(), id, wav, []string{"Bunny"}); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		sent[id.String()] = sha256.Sum256(wav)
		mu.Unlock()
	}
	for i := range 20 {
		send(uint32(i))
	}
	mu.Lock()
	before := len(sent)
	mu.Unlock()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint32(100); ; i++ {
			select {
			case <-stop:
				return
			default:
				send(i)
			}
		}
	})
	for { // let the load get going
		mu.Lock()
		n := len(sent)
		mu.Unlock()
		if n >= before+5 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before = len(sent)
	mu.Unlock()
	out := filepath.Join(t.TempDir(), "hub"+archive.BackupExt)
	err := archive.Backup(th.cfg.DataDir, out, archive.BackupOptions{Passphrase: []byte(backupPass)})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
		t.Fatalf("backup mode %v", st.Mode())
	}
	// Nothing personal in clear in the backup: no recording, no name.
	raw, _ := os.ReadFile(out)
	for _, needle := range [][]byte{[]byte("Teddy"), []byte("WAVEfmt "), recording(0.5, 3)[100:140]} {
		if bytes.Contains(raw, needle) {
			t.Fatalf("the backup holds %q in clear", needle[:8])
		}
	}

	if _, err := archive.Restore(out, filepath.Join(t.TempDir(), "x"), archive.RestoreOptions{Passphrase: []byte("wrong passphrase here")}); !errors.Is(err, backup.ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	res, err := archive.Restore(out, restored, archive.RestoreOptions{Passphrase: []byte(backupPass)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Header.MasterKey || res.Messages < before {
		t.Fatalf("restored %+v", res)
	}
	st, err := store.Open(context.Background(), store.Options{Path: filepath.Join(restored, "hub.db"), MasterKeyPath: filepath.Join(restored, "keys", "master.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.CommittedMessages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m[0]] = true
		want, ok := sent[m[0]]
		if !ok {
			t.Fatalf("the backup holds message %s, which was never acknowledged", m[0])
		}
		aud, err := st.OpenAudio(context.Background(), m[0], m[1], store.Viewer{All: true})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := st.WriteAudio(context.Background(), aud, &buf); err != nil || sha256.Sum256(buf.Bytes()) != want {
			t.Fatalf("message %s differs after the restore: %v", m[0], err)
		}
	}
	n := 0
	for id := range sent {
		if ids[id] {
			n++
		}
	}
	if n < before {
		t.Fatalf("only %d of the %d messages sent before the backup were restored", n, before)
	}
	t.Logf("%d messages sent before the backup, %d during; %d restored", before, len(sent)-before, len(msgs))

	// A hub starts on the restored data, and the devices still trust it.
	th2 := startHub(t, func(c *hub.Config) { c.DataDir = restored })
	cb := th2.dial(b)
	if got := receive(t, cb, len(msgs)); len(got) != len(msgs) {
		t.Fatalf("the restored hub delivered %d of %d", len(got), len(msgs))
	}
}

// TestRestoreRefusals: a restore never lands on a running hub's data, nor
// on existing data, unless told to; and it keeps what it replaces.
func TestRestoreRefusals(t *testing.T) {
	th := startHub(t)
	th.device("Teddy", "toy")
	out := filepath.Join(t.TempDir(), "hub"+archive.BackupExt)
	if err := archive.Backup(th.cfg.DataDir, out, archive.BackupOptions{Passphrase: []byte(backupPass)}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Restore(out, th.cfg.DataDir, archive.RestoreOptions{Passphrase: []byte(backupPass)}); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("over a running hub: %v", err)
	}
	th.stop()
	if _, err := archive.Restore(out, th.cfg.DataDir, archive.RestoreOptions{Passphrase: []byte(backupPass)}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("over existing data: %v", err)
	}
	res, err := archive.Restore(out, th.cfg.DataDir, archive.RestoreOptions{Passphrase: []byte(backupPass), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(res.Replaced, "hub.db")); err != nil {
		t.Fatalf("the replaced data was not kept: %v", err)
	}
	if st, _ := os.Stat(th.cfg.DataDir); st.Mode().Perm() != 0o700 {
		t.Fatalf("restored data directory mode %v", st.Mode())
	}
	// Damaged backups are refused before anything is touched.
	b, _ := os.ReadFile(out)
	b[len(b)/2] ^= 1
	bad := out + ".damaged"
	os.WriteFile(bad, b, 0o600)
	if _, err := archive.Restore(bad, filepath.Join(t.TempDir(), "new"), archive.RestoreOptions{Passphrase: []byte(backupPass)}); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("damaged backup: %v", err)
	}
	// A backup without the key needs the key.
	th.start()
	nokey := filepath.Join(t.TempDir(), "nokey"+archive.BackupExt)
	if err := archive.Backup(th.cfg.DataDir, nokey, archive.BackupOptions{Passphrase: []byte(backupPass), WithoutKey: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Restore(nokey, filepath.Join(t.TempDir(), "n1"), archive.RestoreOptions{Passphrase: []byte(backupPass)}); err == nil || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("no key: %v", err)
	}
	if _, err := archive.Restore(nokey, filepath.Join(t.TempDir(), "n2"), archive.RestoreOptions{Passphrase: []byte(backupPass),
		MasterKey: filepath.Join(th.cfg.DataDir, "keys", "master.key")}); err != nil {
		t.Fatalf("with the key: %v", err)
	}
}

// TestDailyBackup: with a backup directory, the hub backs itself up and
// keeps the newest few; the self-check finds no key in clear there.
func TestDailyBackup(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte(backupPass+"\n"), 0o600)
	backups := filepath.Join(dir, "usb")
	os.MkdirAll(backups, 0o700)
	for _, old := range []string{"20200101T000000Z", "20200102T000000Z", "20200103T000000Z"} {
		os.WriteFile(filepath.Join(backups, "toyhub-"+old+archive.BackupExt), []byte("old"), 0o600)
	}
	th := startHub(t, func(c *hub.Config) {
		c.WebAddr = "127.0.0.1:0"
		c.BackupDir, c.BackupPassphraseFile, c.BackupKeep = backups, pass, 2
	})
	var files []string
	for range 200 {
		files, _ = filepath.Glob(filepath.Join(backups, "toyhub-*"+archive.BackupExt))
		if len(files) == 2 && !strings.Contains(files[1], "2020") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(files) != 2 || !strings.Contains(files[0], "20200103") {
		t.Fatalf("backups kept: %v", files)
	}
	if _, err := archive.Restore(files[1], filepath.Join(dir, "restored"), archive.RestoreOptions{Passphrase: []byte(backupPass)}); err != nil {
		t.Fatalf("the daily backup does not restore: %v", err)
	}
	_, body := httpGet(t, "http://"+th.h.MetricsAddr()+"/metrics")
	if strings.Contains(body, "toyhub_last_backup_age_seconds -1") {
		t.Fatal("the metrics do not know of the backup")
	}
	if f, _ := finding(th.check(t), "rest.backups"); f.Severity != 0 || !strings.Contains(f.Checked, backups) {
		t.Fatalf("self-check of the backup dir: %+v", f)
	}
}
