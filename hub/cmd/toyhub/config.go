package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// configCheck validates the configuration (file and environment) and
// prints what the hub would use, or every bad value.
func configCheck(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub config check", flag.ContinueOnError)
	path := fs.String("config", hub.ConfigFile(os.Environ()), "configuration file to check")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	cfg, err := hub.LoadConfig(*path, os.Environ())
	if err = errors.Join(err, cfg.Check()); err != nil { // every bad value, from reading and from checking
		return fmt.Errorf("the configuration is not valid:\n%w", err)
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(io.Stdout, "warning:", w)
	}
	src := *path
	if src == "" {
		src = "no file: the embedded defaults"
	}
	fmt.Fprintf(io.Stdout, "The configuration is valid (%s).\n", src)
	return nil
}
