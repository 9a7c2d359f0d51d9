// Package control is the protocol between the console's commands
// ('toyhub device list', 'toyhub invite create' …) and the running hub,
// over a Unix socket in the data directory: its operations, declared once
// in ops.go with their arguments, results and timeouts; the client that
// the commands use; and the server that the daemon runs. It knows nothing
// of the daemon: the daemon hands the server a Mux of handlers.
//
// # Wire format
//
// One JSON request and one JSON response per connection:
//
//	{"op": "device.list", "args": {…}}
//	{"result": …} or {"error": "what went wrong, in words for a person"}
//
// # Access
//
// Only the hub's own user (or root) may use the socket: it is mode 0600
// inside the 0700 data directory, and the server also checks the peer's
// credentials, so a mistake in directory permissions does not open it to
// others. Running a command therefore proves access to the hub's console.
package control

import (
	"encoding/json"
	"fmt"
	"time"
)

type request struct {
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type response struct {
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// Op is one operation of the protocol: A is the type of its arguments, R
// of its result.
type Op[A, R any] struct {
	name    string
	timeout time.Duration
}

// Name is the operation's name on the wire.
func (o Op[A, R]) Name() string { return o.name }

// declared are every operation's name and timeout, for the server.
var declared = map[string]time.Duration{}

func declare[A, R any](name string, timeout time.Duration) Op[A, R] {
	if _, dup := declared[name]; dup {
		panic(fmt.Sprintf("control: operation %q declared twice", name))
	}
	declared[name] = timeout
	return Op[A, R]{name: name, timeout: timeout}
}

// Names lists every declared operation.
func Names() []string {
	out := make([]string, 0, len(declared))
	for n := range declared {
		out = append(out, n)
	}
	return out
}
