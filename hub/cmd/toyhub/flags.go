package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// dataFlag is --data, defaulting to the configuration file's data_dir
// (so that on a packaged hub 'toyhub device list' finds /var/lib/toyhub).
func dataFlag(fs *flag.FlagSet) *string {
	def := hub.Defaults().DataDir
	if cfg, err := hub.LoadConfig(hub.ConfigFile(os.Environ()), os.Environ()); err == nil {
		def = cfg.DataDir
	}
	return fs.String("data", def, "data directory of the hub")
}

// noArgs parses flags for a command that takes no positional argument.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := cmdline.Parse(fs, args)
	if err == nil && len(pos) > 0 {
		err = cmdline.Usagef("%s: unexpected argument %q", fs.Name(), pos[0])
	}
	return err
}

// configArg finds --config in args, before the other flags are defined
// (their defaults come from the file).
func configArg(args []string) string {
	for i, a := range args {
		for _, p := range []string{"--config=", "-config="} {
			if v, ok := strings.CutPrefix(a, p); ok {
				return v
			}
		}
		if (a == "--config" || a == "-config") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return hub.ConfigFile(os.Environ())
}

// readSecret reads a password or passphrase from a file, or from the
// terminal (twice, when confirm is set), or from a line of standard input.
func readSecret(prompt, file string, stdin *os.File, stderr io.Writer, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if !term.IsTerminal(int(stdin.Fd())) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return nil, fmt.Errorf("no %s on standard input; type it at a terminal, or give it in a file", strings.ToLower(prompt))
		}
		return []byte(strings.TrimRight(line, "\r\n")), nil
	}
	fmt.Fprint(stderr, prompt+": ")
	p, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil || !confirm {
		return p, err
	}
	fmt.Fprint(stderr, "The same again: ")
	q, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if string(p) != string(q) {
		return nil, errors.New("the two passphrases differ")
	}
	return p, nil
}

// progress prints a percentage on stderr for jobs of a few megabytes or
// more.
func progress(stderr io.Writer, what string) (func(done, total int64), func()) {
	last := -1
	shown := false
	return func(done, total int64) {
			if total < 4<<20 {
				return
			}
			if pct := int(done * 100 / max(total, 1)); pct != last && pct%5 == 0 {
				last, shown = pct, true
				fmt.Fprintf(stderr, "\r%s: %3d%% of %d MB", what, pct, total>>20)
			}
		}, func() {
			if shown {
				fmt.Fprintln(stderr)
			}
		}
}
