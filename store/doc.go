// Package store is the hub's database: one SQLite file (modernc.org/sqlite,
// pure Go) with every recording and every name sealed at the application
// level, so that the file, its WAL and its backups reveal nothing personal
// without the master key, which lives outside the database.
//
// # Keys
//
// A 256-bit master key in its own file (mode 0600) is the input to HKDF,
// which derives a key-wrapping key, a look-up key and a check value. Every
// record that holds personal data has its own random data key, wrapped by
// the wrapping key and stored beside it; deleting the row destroys the key.
// Ciphertexts are AES-256-GCM with associated data that binds them to their
// table, record ID, column and key version. Names are found by a keyed hash.
//
// # Writes
//
// All writes go through one connection owned by a writer goroutine that
// groups whatever operations are waiting into one transaction (group
// commit). Each operation runs in its own savepoint, so one failing
// operation does not undo the others, and no caller hears of success
// before the transaction holding its operation is durable
// (synchronous=FULL). Reads use a separate pool of query-only connections
// and, in WAL mode, never wait for the writer. In WAL mode the WAL is
// copied into the database file by passive checkpoints on a connection
// of their own, beside the writer's commits, rather than inside the commit
// that crosses SQLite's threshold (checkpoint.go).
//
// # Concurrency
//
// A Store is safe for concurrent use. Upload handles are not: each belongs
// to the goroutine serving one device's connection.
package store
