// Package audit is the hub's security self-check: its own exposure, probed
// as an attacker would probe it, its data at rest, the hygiene of its
// identities, and (opt-in) the home network around it. Every finding says
// what was checked, what was seen, and what to do, in plain words.
//
// The package knows nothing of the hub's internals: the hub describes
// itself through Facts, defined here where it is used.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Severity orders findings; High makes 'toyhub audit' exit non-zero.
type Severity int

// Severities, from the least.
const (
	Info Severity = iota
	Low
	Medium
	High
)

func (s Severity) String() string {
	switch s {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "info"
}

// MarshalText writes the severity as its name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, v := range []Severity{Info, Low, Medium, High} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("audit: severity %q", b)
}

// Finding is one thing wrong (or, at Info, one thing checked and right).
type Finding struct {
	Check    string   `json:"check"`    // a stable ID, such as "exposure.listeners"
	Severity Severity `json:"severity"` // how bad
	Title    string   `json:"title"`    // one line, for a parent
	Checked  string   `json:"checked"`  // what was checked
	Seen     string   `json:"seen"`     // what was seen
	Fix      string   `json:"fix"`      // what to do; empty at Info
	Host     string   `json:"host,omitempty"`
	Port     int      `json:"port,omitempty"`
}

// Report is the result of one run.
type Report struct {
	At       time.Time     `json:"at"`
	Trigger  string        `json:"trigger"` // "manual", "daily", "change", "start"
	Took     time.Duration `json:"took_ns"`
	Checks   []string      `json:"checks"` // the checks that ran
	Findings []Finding     `json:"findings"`
	Network  *NetworkScan  `json:"network,omitempty"`
}

// Worst is the highest severity among the findings (Info if none).
func (r Report) Worst() Severity {
	w := Info
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w
}

// Count is how many findings have severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Problems are the findings above Info, worst first.
func (r Report) Problems() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Severity > Info {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return int(b.Severity) - int(a.Severity) })
	return out
}

// WriteText writes the report for a person at a console.
func (r Report) WriteText(w io.Writer) error {
	probs := r.Problems()
	fmt.Fprintf(w, "toyhub security check, %s: %d checks, %d high, %d medium, %d low.\n",
		r.At.Local().Format(time.DateTime), len(r.Checks), r.Count(High), r.Count(Medium), r.Count(Low))
	if len(probs) == 0 {
		fmt.Fprintln(w, "Nothing to fix.")
	}
	for _, f := range probs {
		where := ""
		if f.Host != "" {
			where = fmt.Sprintf(" [%s:%d]", f.Host, f.Port)
		}
		fmt.Fprintf(w, "\n%s: %s%s\n  checked: %s\n  seen:    %s\n  fix:     %s\n",
			strings.ToUpper(f.Severity.String()), f.Title, where, f.Checked, f.Seen, f.Fix)
	}
	if r.Network != nil {
		fmt.Fprintf(w, "\nNetwork scan: %d addresses, %d probes, %s.\n", r.Network.Addresses, r.Network.Probes, r.Network.Took.Round(time.Millisecond))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPassed:")
	for _, f := range r.Findings {
		if f.Severity == Info {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Check, f.Title)
		}
	}
	return tw.Flush()
}

// JSON is the report as JSON.
func (r Report) JSON() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

// check is one named check; it appends its findings.
type check struct {
	name string
	run  func(ctx context.Context, r *run)
}

// run collects the findings of one report.
type run struct {
	facts    Facts
	opt      Options
	findings []Finding
}

func (r *run) add(f Finding) { r.findings = append(r.findings, f) }

func (r *run) pass(check, title, checked, seen string) {
	r.add(Finding{Check: check, Severity: Info, Title: title, Checked: checked, Seen: seen})
}

// Run runs every check on the hub's own state and exposure, and the
// network scan if opt.Network is set.
func Run(ctx context.Context, facts Facts, opt Options) (Report, error) {
	opt.defaults()
	start := opt.Now()
	rep := Report{At: start, Trigger: opt.Trigger}
	r := &run{facts: facts, opt: opt}
	for _, c := range checks() {
		rep.Checks = append(rep.Checks, c.name)
		c.run(ctx, r)
		if ctx.Err() != nil {
			return rep, fmt.Errorf("audit: %w", ctx.Err())
		}
	}
	if opt.Network {
		scan, findings, err := Scan(ctx, opt.Scan)
		if err != nil {
			return rep, err
		}
		rep.Checks = append(rep.Checks, "network")
		rep.Network = &scan
		r.findings = append(r.findings, findings...)
	}
	rep.Findings = r.findings
	rep.Took = opt.Now().Sub(start)
	return rep, nil
}

func checks() []check {
	return []check{
		{"exposure.listeners", checkListeners},
		{"exposure.mqtt-auth", checkMQTTAuth},
		{"exposure.plaintext", checkPlaintext},
		{"exposure.tls", checkTLSVersions},
		{"exposure.web-routes", checkWebRoutes},
		{"exposure.debug", checkDebug},
		{"exposure.remote", checkRemote},
		{"rest.permissions", checkPermissions},
		{"rest.web-roots", checkWebRoots},
		{"rest.backups", checkBackups},
		{"rest.plaintext", checkPlaintextAtRest},
		{"rest.space", checkSpace},
		{"identity.certificates", checkCertificates},
		{"identity.devices", checkStaleDevices},
		{"identity.invites", checkInvites},
		{"identity.accounts", checkAccounts},
		{"identity.ca-key", checkCAKey},
		{"identity.attacks", checkAttacks},
	}
}

// Name puts names beside the device and account IDs the findings mention,
// for showing the report to its household (reports are stored with IDs
// only).
func (r *Report) Name(names map[string]string) { r.name(names, true) }

// Plain puts the names of the devices and accounts in place of their IDs,
// without the IDs, for a page a parent reads.
func (r *Report) Plain(names map[string]string) { r.name(names, false) }

func (r *Report) name(names map[string]string, ids bool) {
	for i := range r.Findings {
		f := &r.Findings[i]
		for id, name := range names {
			if name == "" {
				continue
			}
			if ids {
				f.Seen = strings.ReplaceAll(f.Seen, id, fmt.Sprintf("%q (%s)", name, id))
			} else {
				f.Seen = strings.ReplaceAll(f.Seen, id, name)
				f.Title = strings.ReplaceAll(f.Title, id, name)
				f.Fix = strings.ReplaceAll(f.Fix, id, name)
			}
		}
	}
}
