package archive

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/toyhub/toyhub/hub/backup"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/hub/datadir"
	"github.com/toyhub/toyhub/store"
)

// An export is everything a family has on its hub, in files anyone can
// open: every message as a WAV file, an index of them (JSON and CSV: who,
// to whom, when, whether played), the people and devices, and the audit
// log. It is a zip archive, encrypted with a passphrase in the backup
// format unless the parent chooses plain.

// ExportIndex is a line of the index.
type ExportIndex struct {
	ID          string    `json:"id"`
	File        string    `json:"file"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	SentAt      time.Time `json:"sent_at"`
	Seconds     float64   `json:"seconds"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	PlayedAt    time.Time `json:"played_at,omitzero"`
}

// ExportPerson is a device or an account.
type ExportPerson struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // toy, family, or an account's role
	Email    string    `json:"email,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Removed  bool      `json:"removed,omitempty"`
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Export writes the archive to w; progress hears of each message done.
func Export(ctx context.Context, st *store.Store, w io.Writer, progress func(done, total int)) (int, error) {
	z := zip.NewWriter(w)
	ds, err := st.Devices(ctx)
	if err != nil {
		return 0, err
	}
	names := map[string]string{}
	var people []ExportPerson
	for _, d := range ds {
		names[d.ID] = d.Name
		people = append(people, ExportPerson{ID: d.ID, Name: d.Name, Kind: string(d.Kind), Created: d.CreatedAt, LastSeen: d.LastSeen, Removed: d.Revoked()})
	}
	users, err := st.Users(ctx)
	if err != nil {
		return 0, err
	}
	for _, u := range users {
		people = append(people, ExportPerson{ID: u.ID, Name: u.Login, Kind: u.Role, Email: u.Email, Created: u.CreatedAt})
	}
	msgs, err := st.CommittedMessages(ctx)
	if err != nil {
		return 0, err
	}
	var index []ExportIndex
	for i, m := range msgs {
		id, sender := m[0], m[1]
		a, err := st.OpenAudio(ctx, id, sender, store.Viewer{All: true}) // every message involves its sender
		if err != nil {
			return i, fmt.Errorf("export: message %s: %w", id, err)
		}
		info, err := st.Message(ctx, id)
		if err != nil {
			return i, err
		}
		file := fmt.Sprintf("messages/%s_from_%s_%s.wav", info.SentAt.UTC().Format("2006-01-02_15-04-05"),
			unsafeName.ReplaceAllString(names[sender], "-"), id[:8])
		for _, dl := range info.Deliveries { // a line per recipient
			index = append(index, ExportIndex{ID: id, File: file, From: names[sender], To: names[dl.Recipient], SentAt: info.SentAt,
				Seconds: info.Duration.Seconds(), DeliveredAt: dl.DeliveredAt, PlayedAt: dl.PlayedAt})
		}
		f, err := z.CreateHeader(&zip.FileHeader{Name: file, Method: zip.Store, Modified: info.SentAt})
		if err != nil {
			return i, err
		}
		if err := st.WriteAudio(ctx, a, f); err != nil {
			return i, err
		}
		if progress != nil {
			progress(i+1, len(msgs))
		}
	}
	if err := writeJSON(z, "index.json", index); err != nil {
		return len(msgs), err
	}
	rows := [][]string{{"id", "file", "from", "to", "sent_at", "seconds", "delivered_at", "played_at"}}
	for _, x := range index {
		rows = append(rows, []string{x.ID, x.File, x.From, x.To, stamp(x.SentAt), fmt.Sprintf("%.1f", x.Seconds), stamp(x.DeliveredAt), stamp(x.PlayedAt)})
	}
	if err := writeCSV(z, "index.csv", rows); err != nil {
		return len(msgs), err
	}
	if err := writeJSON(z, "people.json", people); err != nil {
		return len(msgs), err
	}
	evs, err := st.AuditLog(ctx, 1<<30)
	if err != nil {
		return len(msgs), err
	}
	accounts := map[string]string{}
	for _, u := range users {
		accounts[u.ID] = u.Login
	}
	named := func(m map[string]string, id string) string {
		if n, ok := m[id]; ok {
			return n
		}
		return id
	}
	arows := [][]string{{"id", "at", "event", "what", "who", "device", "from", "detail"}}
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		arows = append(arows, []string{fmt.Sprint(e.ID), stamp(e.At), string(e.Kind), e.Kind.Text(),
			named(accounts, e.User), named(names, e.Device), e.Remote, e.Detail})
	}
	if err := writeCSV(z, "audit.csv", arows); err != nil {
		return len(msgs), err
	}
	return len(msgs), z.Close()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func writeJSON(z *zip.Writer, name string, v any) error {
	f, err := z.Create(name)
	if err != nil {
		return err
	}
	e := json.NewEncoder(f)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func writeCSV(z *zip.Writer, name string, rows [][]string) error {
	f, err := z.Create(name)
	if err != nil {
		return err
	}
	c := csv.NewWriter(f)
	c.WriteAll(rows)
	return c.Error()
}

// WriteExport writes the archive to w, encrypted with passphrase in the
// backup format unless passphrase is empty.
func WriteExport(ctx context.Context, st *store.Store, w io.Writer, passphrase []byte, progress func(done, total int)) (int, error) {
	if len(passphrase) == 0 {
		return Export(ctx, st, w, progress)
	}
	enc, err := backup.NewEncrypter(w, passphrase, backup.Header{Kind: "export", Schema: store.SchemaVersion()})
	if err != nil {
		return 0, err
	}
	n, err := Export(ctx, st, enc, progress)
	if err == nil {
		err = enc.Close()
	}
	return n, err
}

// ExportOptions say how 'toyhub export' works.
type ExportOptions struct {
	Passphrase []byte // empty: a plain zip, which the caller asked for
	Progress   func(done, total int)
}

// ExportFile exports the hub's data into out (0600), reading the database
// beside the running hub (or without one), and records the export in
// the audit log when the hub runs.
func ExportFile(dataDir, out string, o ExportOptions) (int, error) {
	if _, err := os.Stat(out); err == nil {
		return 0, fmt.Errorf("%s exists; choose another file", out)
	}
	dir := datadir.Dir{Path: dataDir}
	ctx := context.Background()
	st, err := store.OpenReadOnly(ctx, store.Options{Path: dir.DB(), MasterKeyPath: dir.MasterKey()})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var n int
	err = writeWhole(out, func(w io.Writer) (err error) {
		n, err = WriteExport(ctx, st, w, o.Passphrase, o.Progress)
		return err
	})
	if err != nil {
		return n, err
	}
	_, _ = control.ExportDone.Call(dataDir, control.ExportArgs{Messages: n, Encrypted: len(o.Passphrase) > 0, File: filepath.Base(out)})
	return n, nil
}
