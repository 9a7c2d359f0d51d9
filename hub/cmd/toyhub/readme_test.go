package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/wire"
)

// readmeBlock returns the lines of the first sh block after heading in
// the README, without comments.
func readmeBlock(t *testing.T, readme, heading string) []string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("the README has no %q", heading)
	}
	rest := readme[i:]
	start := strings.Index(rest, "```sh\n")
	end := strings.Index(rest[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatalf("no sh block after %q", heading)
	}
	var out []string
	for _, line := range strings.Split(rest[start+6:start+6+end], "\n") {
		if c := strings.Index(line, " #"); c >= 0 {
			line = line[:c]
		}
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// TestReadmeRuns runs the README's "Trying it" and "Parents in control"
// as written, names and all: the hub as 'make run' starts it (defaults,
// mDNS on) in one network namespace, the simulated toys and Grandma's
// device in another joined to it by a veth pair, the console commands in
// the hub's working directory. <CODE> is the code 'toy label' printed, ID
// the message ID 'toy send' printed; an optional [flag] is left out; the
// owner Mum is made through the setup link first, as the README says
// before that block. Before the hub runs, 'toy pair' says to use --hub.
func TestReadmeRuns(t *testing.T) {
	n := newNetns(t)
	needTool(t, "curl", "curl")
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	work := t.TempDir()
	bin := filepath.Join(work, "bin")
	os.MkdirAll(bin, 0o755)
	for _, name := range []string{"toy", "toyhub"} {
		os.Symlink(filepath.Join(binDir, name), filepath.Join(bin, name))
	}
	run := func(line, stdin string) result {
		t.Helper()
		args := strings.Fields(line)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var cmd *exec.Cmd
		if args[0] == "bin/toy" { // a toy or Grandma's device: on the other side of the LAN
			cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.b, filepath.Join(work, args[0])}, args[1:]...)...)
		} else {
			cmd = exec.CommandContext(ctx, filepath.Join(work, args[0]), args[1:]...)
		}
		cmd.Dir = work
		cmd.Stdin = strings.NewReader(stdin)
		return runCmd(t, cmd)
	}

	// No hub yet: the toy says how to name one.
	if r := run("bin/toy pair --code "+wire.NewPairingCode().String()+" --out nowhere", ""); r.code == 0 || !strings.Contains(r.stderr, "--hub HOST:8884") {
		t.Fatalf("toy pair with no hub on the network: exit %d\n%s", r.code, r.stderr)
	} else {
		plainWords(t, r.stderr)
	}

	// make run: the hub on its embedded defaults.
	logs := &lockedBuffer{}
	hub := exec.Command("ip", "netns", "exec", n.a, filepath.Join(work, "bin", "toyhub"), "serve")
	hub.Dir, hub.Stderr = work, logs
	if err := hub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Process.Kill(); hub.Wait() })
	waitFor(t, "the hub", func() bool { return run("bin/toyhub status", "").code == 0 }, logs)

	code, id := "", ""
	for _, line := range readmeBlock(t, readme, "## Trying it") {
		line = strings.ReplaceAll(line, "<CODE>", code)
		r := run(line, "")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s\nhub:\n%s", line, r.code, r.stdout, r.stderr, logs.String())
		}
		switch {
		case strings.HasPrefix(line, "bin/toy label"):
			// The last symbol is a check symbol: Crockford's base32
			// adds *~$=U to the digits and letters.
			code = regexp.MustCompile(`(?m)^[0-9A-Z]{5}(-[0-9A-Z*~$=]{1,5})+$`).FindString(r.stdout)
		case strings.HasPrefix(line, "bin/toy send"):
			id = regexp.MustCompile(`[0-9a-f]{32}`).FindString(r.stdout)
		}
	}
	if code == "" || id == "" {
		t.Fatalf("the walk-through printed no code (%q) or message ID (%q)", code, id)
	}

	// The owner, through the setup link, as "The web app" says.
	link := setupLinkOf(t, run("bin/toyhub setup-link", "").stdout)
	const mum = "violet tractor umbrella geology"
	setup := exec.Command("ip", "netns", "exec", n.b, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Sec-Fetch-Site: same-origin",
		"--data-urlencode", "token="+link[strings.Index(link, "token=")+6:], "--data-urlencode", "login=Mum",
		"--data-urlencode", "password="+mum, "--data-urlencode", "password2="+mum, strings.Split(link, "?")[0])
	if out, err := setup.CombinedOutput(); err != nil || string(out) != "303" {
		t.Fatalf("setup: %v %s", err, out)
	}

	for _, line := range readmeBlock(t, readme, "### Parents in control") {
		line = regexp.MustCompile(` \[[^]]*\]`).ReplaceAllString(line, "")
		line = strings.ReplaceAll(line, " ID", " "+id)
		stdin := ""
		switch {
		case strings.Contains(line, " export "), strings.Contains(line, " decrypt "):
			stdin = "quiet harbour lantern biscuit\n"
		case strings.Contains(line, " wipe "):
			stdin = mum + "\n"
		}
		if r := run(line, stdin); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s%s\nhub:\n%s", line, r.code, r.stdout, r.stderr, logs.String())
		}
	}
}
