package pageout

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// exeRSS is the resident size of the executable's read-only mappings, in
// kB, from /proc/self/smaps.
func exeRSS(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, ours := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			ours = len(fs) >= 6 && fs[5] == exe && !strings.Contains(fs[1], "w")
			continue
		}
		if ours && len(fs) == 3 && fs[0] == "Rss:" {
			n, _ := strconv.Atoi(fs[1])
			total += n
		}
	}
	return total
}

// TestExecutable: the executable's read-only pages are handed back, and
// the program runs on (its pages fault back as they are needed).
func TestExecutable(t *testing.T) {
	if runtime.GOOS != "linux" {
		if _, err := Executable(); err == nil {
			t.Fatal("no error where MADV_PAGEOUT does not exist")
		}
		return
	}
	before := exeRSS(t)
	n, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	if n == 0 || after >= before {
		t.Fatalf("advised %d bytes; the executable's resident pages went from %d kB to %d kB", n, before, after)
	}
	t.Logf("advised %d kB; resident %d kB before, %d kB after", n/1024, before, after)
	// Still running: the code faults back in.
	if s := strconv.Itoa(len(strings.Repeat("x", 10))); s != "10" {
		t.Fatal(s)
	}
}
