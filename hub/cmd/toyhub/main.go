// Command toyhub is the hub daemon (toyhub serve) and its console, whose
// commands act on the running hub through the control socket in its data
// directory (package control).
//
// Each group of commands has its file: devices.go, contacts.go,
// invites.go, people.go, messages.go, backups.go, audit.go, config.go and
// serve.go; commands.go lists them all, and the usage text and the manual
// page are made from that list.
package main

import (
	"os"
	"runtime"

	"github.com/toyhub/toyhub/internal/cmdline"
)

// version is stamped by the Makefile with -ldflags -X.
var version = "dev"

// exit statuses
const (
	exitOK    = cmdline.ExitOK
	exitError = cmdline.ExitFailure
	exitUsage = cmdline.ExitUsage
	exitWiped = 75 // EX_TEMPFAIL: restart me
)

func main() {
	// The hub serves no profiles, and sampling its large audio buffers
	// for a memory profile nobody reads cost measurable CPU.
	runtime.MemProfileRate = 0
	os.Exit(program().Main(&cmdline.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:]))
}
