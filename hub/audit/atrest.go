package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

func checkPermissions(ctx context.Context, r *run) {
	const id = "rest.permissions"
	f := r.facts.Files()
	uid := os.Getuid()
	type want struct {
		path string
		dir  bool
	}
	paths := []want{{f.DataDir, true}, {f.KeysDir, true}}
	for _, p := range f.Database {
		paths = append(paths, want{p, false})
	}
	for _, p := range f.Keys {
		paths = append(paths, want{p, false})
	}
	var bad []string
	checked := 0
	for _, w := range paths {
		st, err := os.Stat(w.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			bad = append(bad, w.path+": "+err.Error())
			continue
		}
		checked++
		mode := st.Mode().Perm()
		owner := -1
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			owner = int(sys.Uid)
		}
		if mode&0o077 != 0 || owner != uid {
			fix := "chmod 600"
			if w.dir {
				fix = "chmod 700"
			}
			bad = append(bad, fmt.Sprintf("%s has mode %#o and owner %d (run: %s %s; chown %d %s)", w.path, mode, owner, fix, w.path, uid, w.path))
		}
	}
	checked2 := "owner and permissions of the data directory, the database and its WAL, and the key files"
	if len(bad) > 0 {
		r.add(Finding{Check: id, Severity: High, Title: "Hub files can be read by other users", Checked: checked2, Seen: strings.Join(bad, "; "),
			Fix: "Give the files to the hub's user only, as shown. Other accounts on this machine could otherwise copy the keys and the recordings."})
		return
	}
	r.pass(id, "Only the hub's user can read its files", checked2, fmt.Sprintf("%d files and directories, none readable by group or others", checked))
}

// inside reports whether path is dir or below it, after resolving links.
func inside(path, dir string) bool {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		p = path
	}
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		d = dir
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func checkWebRoots(ctx context.Context, r *run) {
	const id = "rest.web-roots"
	f := r.facts.Files()
	checked := "whether the data and key directories are inside a directory a web server serves (" + strings.Join(r.opt.WebRoots, ", ") + "); the hub's own web app serves only files built into the program"
	for _, root := range r.opt.WebRoots {
		for _, p := range []string{f.DataDir, f.KeysDir} {
			if inside(p, root) {
				r.add(Finding{Check: id, Severity: High, Title: "The hub's keys are inside a web server's directory", Checked: checked,
					Seen: p + " is inside " + root,
					Fix:  "Move the data directory out of " + root + " (stop the hub, move it, start the hub with --data NEWDIR), or stop that web server. Anyone who can fetch files from it could download the keys."})
				return
			}
		}
	}
	r.pass(id, "The keys are not inside any web server's directory", checked, "none of them holds "+f.DataDir)
}

// searchFile reports which needles occur in the file at path, reading it
// in blocks that overlap by the longest needle.
func searchFile(path string, needles [][]byte) (map[int]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	longest := 0
	for _, n := range needles {
		longest = max(longest, len(n))
	}
	found := map[int]bool{}
	buf := make([]byte, 1<<20+longest)
	keep := 0
	for {
		n, err := io.ReadFull(f, buf[keep:])
		data := buf[:keep+n]
		for i, nd := range needles {
			if len(nd) > 0 && bytes.Contains(data, nd) {
				found[i] = true
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return found, nil
			}
			return found, err
		}
		keep = min(longest, len(data))
		copy(buf, data[len(data)-keep:])
	}
}

// walkFiles calls fn for every regular file below each directory.
func walkFiles(dirs []string, skip func(string) bool, fn func(string)) {
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable: skip it
			}
			if e.Type().IsRegular() && !skip(p) {
				fn(p)
			}
			return nil
		})
	}
}

func checkBackups(ctx context.Context, r *run) {
	const id = "rest.backups"
	f := r.facts.Files()
	secrets, err := r.facts.Secrets()
	if err != nil {
		r.add(Finding{Check: id, Severity: Low, Title: "The backup check could not run", Checked: "files for the master key in clear", Seen: err.Error(), Fix: "Run the check again."})
		return
	}
	dirs := append([]string{f.DataDir}, f.Backups...)
	checked := "every file in " + strings.Join(dirs, ", ") + " for the master key in clear"
	var leaks []string
	files := 0
	walkFiles(dirs, func(p string) bool { return p == f.MasterKey }, func(p string) {
		files++
		found, err := searchFile(p, secrets)
		if err == nil && len(found) > 0 {
			leaks = append(leaks, p)
		}
	})
	if len(leaks) > 0 {
		r.add(Finding{Check: id, Severity: High, Title: "A copy of the master key lies in clear", Checked: checked, Seen: "the master key is in " + strings.Join(leaks, ", "),
			Fix: "Delete those copies (shred -u FILE). A backup must hold the master key only encrypted with a passphrase: use 'toyhub backup'. Whoever has the key and the database can read every recording."})
		return
	}
	r.pass(id, "No copy of the master key in clear", checked, fmt.Sprintf("%d files searched", files))
}

// signatures of plaintext media, long enough not to occur by chance in a
// few megabytes of ciphertext.
var signatures = []struct {
	name string
	sig  []byte
}{
	{"WAV (RIFF/WAVE)", []byte("WAVEfmt ")},
	{"Ogg", []byte("OggS\x00\x02")},
	{"MP3 (ID3v2.3)", []byte("ID3\x03\x00")},
	{"MP3 (ID3v2.4)", []byte("ID3\x04\x00")},
	{"JPEG (JFIF)", []byte("\xff\xd8\xff\xe0\x00\x10JFIF")},
	{"JPEG (Exif)", []byte("Exif\x00\x00")},
	{"PNG", []byte("\x89PNG\r\n\x1a\n")},
}

// minNameLen is the shortest name searched for: a shorter string turns up
// by chance in a large enough file of random bytes.
const minNameLen = 4

func checkPlaintextAtRest(ctx context.Context, r *run) {
	const id = "rest.plaintext"
	f := r.facts.Files()
	names, err := r.facts.Names(ctx)
	if err != nil {
		r.add(Finding{Check: id, Severity: Low, Title: "The scan for names could not run", Checked: "the database files", Seen: err.Error(), Fix: "Run the check again."})
		return
	}
	var needles [][]byte
	var labels []string
	for _, s := range signatures {
		needles, labels = append(needles, s.sig), append(labels, "a "+s.name+" header")
	}
	short := 0
	for _, n := range names {
		if len(n) < minNameLen {
			short++
			continue
		}
		for _, v := range []string{n, strings.ToLower(n), strings.ToUpper(n)} {
			needles, labels = append(needles, []byte(v)), append(labels, "a name of a person, a toy or the household")
		}
	}
	checked := fmt.Sprintf("%s for plaintext audio and image headers and for the %d known names", strings.Join(f.Database, ", "), len(names)-short)
	var seen []string
	for _, p := range f.Database {
		found, err := searchFile(p, needles)
		if err != nil {
			continue // a WAL or shm may be gone between listing and reading
		}
		kinds := map[string]bool{}
		for i := range found {
			kinds[labels[i]] = true
		}
		for k := range kinds {
			seen = append(seen, filepath.Base(p)+" holds "+k+" in clear") // never the name itself
		}
	}
	if len(seen) > 0 {
		r.add(Finding{Check: id, Severity: High, Title: "Personal data lies unencrypted in the database", Checked: checked, Seen: strings.Join(seen, "; "),
			Fix: "Stop the hub and report this as a bug. Then make an encrypted backup, and keep the database files away from anyone else."})
		return
	}
	note := "none found"
	if short > 0 {
		note += fmt.Sprintf(" (%d names shorter than %d letters cannot be told apart from chance and were not searched)", short, minNameLen)
	}
	r.pass(id, "Nothing personal in clear in the database", checked, note)
}

// checkSpace warns before the disk is so full that toys' messages are
// refused, and says so when it is.
func checkSpace(ctx context.Context, r *run) {
	const id = "rest.space"
	f := r.facts.Files()
	checked := "the free space on the disk of " + f.DataDir
	var st syscall.Statfs_t
	if err := syscall.Statfs(f.DataDir, &st); err != nil {
		r.add(Finding{Check: id, Severity: Medium, Title: "The free space could not be read", Checked: checked, Seen: err.Error(), Fix: "Check that the data directory is intact."})
		return
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	seen := fmt.Sprintf("%d MB free; new messages are refused below %d MB", free>>20, f.Reserve>>20)
	fix := "Delete old messages, or keep them for fewer days in each toy's settings; or move the hub to a larger card."
	switch {
	case free-f.Reserve < 1<<20:
		r.add(Finding{Check: id, Severity: High, Title: "The hub's storage is full: toys cannot send messages", Checked: checked, Seen: seen, Fix: fix})
	case free < 2*f.Reserve+16<<20:
		r.add(Finding{Check: id, Severity: Medium, Title: "The hub's storage is nearly full", Checked: checked, Seen: seen, Fix: fix})
	default:
		r.pass(id, "There is room for messages", checked, seen)
	}
}
