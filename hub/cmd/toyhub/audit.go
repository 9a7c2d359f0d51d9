package main

import (
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/toyhub/toyhub/hub/audit"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/internal/cmdline"
)

// The security self-check, and the audit log.

// auditRun asks the running hub for a security self-check and prints it;
// a high-severity finding makes the exit status 1.
func auditRun(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub audit", flag.ContinueOnError)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	network := fs.Bool("network", false, "also scan the home network for exposed services (opt-in)")
	latest := fs.Bool("latest", false, "print the newest report in the history instead of running the checks")
	var targets cmdline.List
	fs.Var(&targets, "target", "address or prefix to scan, at most a /22 of private addresses (repeatable; default: the LAN subnets)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if len(targets) > 0 && !*network {
		return cmdline.Usagef("toyhub audit: --target needs --network")
	}
	if len(targets) > 0 {
		if _, err := audit.ParseTargets(targets); err != nil {
			return cmdline.Usagef("toyhub audit: %v", err)
		}
	}
	var res control.AuditResult
	var err error
	if *latest {
		res, err = control.CheckLatest.Call(*data, control.None{})
	} else {
		res, err = control.CheckRun.Call(*data, control.AuditArgs{Network: *network, Targets: targets})
	}
	if err != nil {
		return err
	}
	rep := res.Report
	if *asJSON {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Stdout, "%s\n", b)
	} else {
		rep.Name(res.Names)
		if err := rep.WriteText(io.Stdout); err != nil {
			return err
		}
	}
	if rep.Worst() >= audit.High {
		return fmt.Errorf("%d high-severity findings", rep.Count(audit.High))
	}
	return nil
}

func auditLog(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub audit-log", flag.ContinueOnError)
	data := dataFlag(fs)
	count := fs.Int("count", 50, "how many of the newest events")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	events, err := control.AuditList.Call(*data, control.CountArgs{Count: *count})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(io.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tACCOUNT\tDEVICE\tFROM\tDETAIL")
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), e.Kind, e.User, e.Device, e.Remote, e.Detail)
	}
	return tw.Flush()
}

func auditVerify(io *cmdline.IO, args []string) error {
	fs := flag.NewFlagSet("toyhub audit-log verify", flag.ContinueOnError)
	data := dataFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	res, err := control.AuditVerify.Call(*data, control.None{})
	if err != nil {
		return err
	}
	if res.Problem != "" {
		return fmt.Errorf("the audit log was tampered with: %s (%d entries verified before it)", res.Problem, res.Entries)
	}
	fmt.Fprintf(io.Stdout, "The audit log is intact: %d entries, each chained to the one before.\n", res.Entries)
	return nil
}
