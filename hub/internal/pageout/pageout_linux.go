package pageout

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func executable() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("pageout: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("pageout: %w", err)
	}
	defer f.Close()
	// Read every mapping first: advising while reading could change the
	// file under the scanner.
	type span struct{ start, end uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// address perms offset dev inode pathname
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe || strings.Contains(fs[1], "w") {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("pageout: %w", err)
	}
	total := 0
	for _, s := range spans {
		// The mapping is the executable's own, and stays mapped for the
		// life of the process; advising it changes no byte in it. The
		// raw call takes the addresses as numbers, as the kernel does.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_PAGEOUT); errno != 0 {
			return total, fmt.Errorf("pageout: madvise: %w", errno)
		}
		total += int(s.end - s.start)
	}
	return total, nil
}
