package hub_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/wire"
)

func readZip(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	return out
}

// TestExport: the export holds every message byte for byte, an index that
// says who sent what to whom and whether it was played, the people, and
// the audit log; encrypted, it shows none of that; the export itself is
// in the audit log.
func TestExport(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy, gran := th.device("Teddy Fitzgerald", "toy"), th.device("Grandma Rosalind", "family")
	th.link("Teddy Fitzgerald", "Grandma Rosalind")
	toy, g := th.dial(teddy), th.dial(gran)
	ctx := context.Background()
	sent := map[string][32]byte{}
	for i, c := range []struct {
		from interface {
			Send(context.Context, wire.MessageID, []byte, []string) error
		}
		to string
	}{{toy, "Grandma Rosalind"}, {g, "Teddy Fitzgerald"}, {toy, "Mum"}} {
		wav := recording(1, uint32(40+i))
		id := wire.NewMessageID()
		if err := c.from.Send(ctx, id, wav, []string{c.to}); err != nil {
			t.Fatal(err)
		}
		sent[id.String()] = sha256.Sum256(wav)
	}
	receive(t, g, 1) // Gran plays Teddy's message
	mum.get("/")

	pass := []byte("cinnamon harbour violin keystone")
	out := filepath.Join(t.TempDir(), "export.toyhub-export")
	n, err := archive.ExportFile(th.cfg.DataDir, out, archive.ExportOptions{Passphrase: pass})
	if err != nil || n != 3 {
		t.Fatalf("export: %d %v", n, err)
	}
	raw, _ := os.ReadFile(out)
	for _, leak := range []string{"PK\x03\x04", "Grandma", "Teddy", "WAVEfmt"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Fatalf("the encrypted export shows %q", leak)
		}
	}
	f, _ := os.Open(out)
	dec, err := backup.NewDecrypter(f, pass)
	if err != nil {
		t.Fatal(err)
	}
	plainZip, err := io.ReadAll(dec)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	files := readZip(t, plainZip)
	var index []archive.ExportIndex
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index) != 3 {
		t.Fatalf("index: %+v", index)
	}
	for _, x := range index {
		wav, ok := files[x.File]
		if !ok || sha256.Sum256(wav) != sent[x.ID] {
			t.Fatalf("message %s: file %s missing or different", x.ID, x.File)
		}
		if x.From == "" || x.To == "" || x.SentAt.IsZero() || x.Seconds < 0.9 {
			t.Fatalf("index line %+v", x)
		}
		if x.From == "Teddy Fitzgerald" && x.To == "Grandma Rosalind" && x.PlayedAt.IsZero() {
			t.Fatal("the index does not say Gran played Teddy's message")
		}
	}
	rows, err := csv.NewReader(bytes.NewReader(files["index.csv"])).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][2] != "from" {
		t.Fatalf("index.csv: %v %v", rows, err)
	}
	var people []archive.ExportPerson
	json.Unmarshal(files["people.json"], &people)
	var names []string
	for _, p := range people {
		names = append(names, p.Name)
	}
	for _, want := range []string{"Teddy Fitzgerald", "Grandma Rosalind", "Mum"} {
		if !slices.Contains(names, want) {
			t.Fatalf("people %v lack %s", names, want)
		}
	}
	if !strings.Contains(string(files["audit.csv"]), "setup.ok") {
		t.Fatalf("audit.csv:\n%s", files["audit.csv"])
	}
	th.waitAudit(t, "export")

	// Plain, by choice, from the web app.
	resp, body := mum.do("POST", "/export", "application/x-www-form-urlencoded", []byte(url.Values{"plain": {"1"}, "current": {ownerPassword}}.Encode()))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" {
		t.Fatalf("web export: %d %v", resp.StatusCode, resp.Header)
	}
	if files := readZip(t, []byte(body)); len(files) != 3+4 {
		t.Fatalf("web export has %d files", len(files))
	}
	// A weak passphrase is refused.
	if code, _ := mum.post("/export", url.Values{"passphrase": {"123456789012"}, "passphrase2": {"123456789012"}, "current": {ownerPassword}}); code != 400 {
		t.Fatalf("weak passphrase: %d", code)
	}
}
