// Package pageout hands back to the system the pages of the program's own
// executable that only its start-up read.
//
// A Go program's text and read-only data are mapped from its file, and the
// kernel maps them in 64 KiB at a time as they are touched (fault-around):
// starting the hub (migrations, the first self-check, templates, TLS)
// leaves about 20 MB of the 25 MB binary resident, though an idle hub
// touches about 3 MB of it. Those pages are clean, and the kernel could
// drop them under pressure, but until then they count in the hub's memory
// and push out other pages on a Pi with 512 MB. MADV_PAGEOUT (Linux 5.4)
// drops them now; whatever runs again faults its pages back.
package pageout

import "sync/atomic"

// Executable pages out the executable's read-only mappings (text and
// read-only data), and returns how many bytes it advised. Writable data
// and the heap are not touched. On systems without MADV_PAGEOUT it does
// nothing and returns an error.
func Executable() (int, error) {
	n, err := executable()
	if err == nil {
		handed.Add(1)
	}
	return n, err
}

// handed counts the times Executable handed the pages back.
var handed atomic.Uint64

// Handed is how many times Executable has handed the pages back in this
// process.
func Handed() uint64 { return handed.Load() }
