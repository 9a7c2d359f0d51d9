//go:build memory.counters

package store

import (
	"fmt"
	"sync"
	_ "unsafe" // for go:linkname

	"modernc.org/libc"
	"modernc.org/memory"
	sqlite3 "modernc.org/sqlite/lib"
)

// The C allocator that modernc's libc gives SQLite, and its lock. libc
// exports its counters (libc.MemStat) but not Trim, which its own tests
// call the same way.
//
//go:linkname cAllocator modernc.org/libc.allocator
var cAllocator memory.Allocator

//go:linkname cAllocatorMu modernc.org/libc.allocatorMu
var cAllocatorMu sync.Mutex

// trimC hands back to the system the empty regions the allocator keeps
// for reuse. It retains up to 4 MiB plus its high-water mark of them by
// design (modernc.org/memory, "Page retention"), and counts them as
// mapped: without trimming, mapped memory climbs as that pool fills,
// whatever SQLite holds. After trimming, what is mapped is what holds
// live allocations.
func trimC() error {
	cAllocatorMu.Lock()
	defer cAllocatorMu.Unlock()
	return cAllocator.Trim()
}

// SQLite counts the bytes it holds only when asked before it starts
// (SQLITE_CONFIG_MEMSTATUS; modernc builds it off). init runs before any
// test opens a database.
func init() {
	tls := libc.NewTLS()
	defer tls.Close()
	if rc := sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_MEMSTATUS, libc.NewVaList(int32(1))); rc != sqlite3.SQLITE_OK {
		panic(fmt.Sprintf("store: SQLITE_CONFIG_MEMSTATUS: SQLite error %d", rc))
	}
}

// cUsed is the bytes SQLite holds in live allocations.
func cUsed() int {
	tls := libc.NewTLS()
	defer tls.Close()
	return int(sqlite3.Xsqlite3_memory_used(tls))
}
