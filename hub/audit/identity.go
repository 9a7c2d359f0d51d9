package audit

import (
	"context"
	"fmt"
	"math"
	"os"
	"time"
)

func (r *run) identity(ctx context.Context) (Identity, bool) {
	id, err := r.facts.Identity(ctx)
	if err != nil {
		r.add(Finding{Check: "identity", Severity: Low, Title: "The identity checks could not run", Checked: "devices, certificates, invites and accounts",
			Seen: err.Error(), Fix: "Run the check again."})
		return Identity{}, false
	}
	return id, true
}

func days(d time.Duration) string {
	n := int(math.Ceil(d.Hours() / 24))
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func checkCertificates(ctx context.Context, r *run) {
	const id = "identity.certificates"
	ident, ok := r.identity(ctx)
	if !ok {
		return
	}
	now := r.opt.Now()
	soon := 0
	for _, c := range ident.Certificates {
		left := c.NotAfter.Sub(now)
		switch {
		case left <= 0:
			r.add(Finding{Check: id, Severity: Medium, Title: "A device's certificate has expired", Checked: "the certificates of enrolled devices",
				Seen: "device " + c.Device + ": expired on " + c.NotAfter.Local().Format(time.DateOnly),
				Fix:  "The device cannot connect any more. Pair it again (toys) or send a new invite (family devices), or remove it if it is gone."})
			soon++
		case left < r.opt.ExpiringWithin:
			r.add(Finding{Check: id, Severity: Medium, Title: "A device's certificate expires soon", Checked: "the certificates of enrolled devices",
				Seen: "device " + c.Device + ": expires in " + days(left) + ", on " + c.NotAfter.Local().Format(time.DateOnly),
				Fix:  "Switch the device on near the hub: it renews its certificate by itself when it connects."})
			soon++
		}
	}
	if soon == 0 {
		r.pass(id, "No certificate expires within "+days(r.opt.ExpiringWithin), "the certificates of enrolled devices", fmt.Sprintf("%d certificates", len(ident.Certificates)))
	}
}

func checkStaleDevices(ctx context.Context, r *run) {
	const id = "identity.devices"
	ident, ok := r.identity(ctx)
	if !ok {
		return
	}
	now := r.opt.Now()
	stale := 0
	for _, d := range ident.Devices {
		last := d.LastSeen
		what := "last seen " + last.Local().Format(time.DateOnly)
		if last.IsZero() {
			last, what = d.Created, "never seen since it was enrolled on "+d.Created.Local().Format(time.DateOnly)
		}
		if now.Sub(last) > r.opt.StaleAfter {
			r.add(Finding{Check: id, Severity: Low, Title: "A device has not connected for a long time", Checked: "when each enrolled device last connected",
				Seen: "device " + d.ID + ": " + what, Fix: "If the device is lost or given away, remove it on the Toys or Family page (or 'toyhub device revoke'), so that nobody else can use it."})
			stale++
		}
	}
	if stale == 0 {
		r.pass(id, "Every device connected within "+days(r.opt.StaleAfter), "when each enrolled device last connected", fmt.Sprintf("%d devices", len(ident.Devices)))
	}
}

func checkInvites(ctx context.Context, r *run) {
	const id = "identity.invites"
	ident, ok := r.identity(ctx)
	if !ok {
		return
	}
	for _, inv := range ident.OpenInvites {
		r.add(Finding{Check: id, Severity: Low, Title: "An invite is still open", Checked: "invites not yet used, withdrawn or expired",
			Seen: "invite " + inv.ID + " can be used until " + inv.Expires.Local().Format(time.DateTime),
			Fix:  "If the person has joined another way or will not, withdraw it on the Family page ('toyhub invite revoke " + inv.ID + "'): whoever holds the link can join until then."})
	}
	if len(ident.OpenInvites) == 0 {
		r.pass(id, "No invite is open", "invites not yet used, withdrawn or expired", "none")
	}
}

func checkAccounts(ctx context.Context, r *run) {
	const id = "identity.accounts"
	ident, ok := r.identity(ctx)
	if !ok {
		return
	}
	if len(ident.Accounts) == 0 {
		r.add(Finding{Check: id, Severity: Medium, Title: "Nobody has set up the hub yet", Checked: "the web accounts",
			Seen: "no owner account: the one-time setup link the hub printed is still open",
			Fix:  "Open the setup link now (run 'toyhub setup-link' on the hub for a new one) and create the owner account, before anyone else on the network does."})
		return
	}
	problems := 0
	for _, a := range ident.Accounts {
		if !a.HasTOTP {
			sev := Low
			if a.Role == "owner" || a.Role == "parent" {
				sev = Medium // a parent's account can do everything
			}
			r.add(Finding{Check: id, Severity: sev, Title: "An account has no second factor", Checked: "the web accounts' second factors",
				Seen: "account " + a.ID + " (" + a.Role + ") logs in with a password alone",
				Fix:  "Add a code app on the account page; the owner can require one for everyone on the Security page."})
			problems++
		}
		if a.PolicyVersion < ident.PasswordPolicy {
			r.add(Finding{Check: id, Severity: Medium, Title: "A password was set under an older password policy", Checked: "the policy each password was checked against",
				Seen: fmt.Sprintf("account %s: policy %d, now %d", a.ID, a.PolicyVersion, ident.PasswordPolicy),
				Fix:  "Ask them to change their password on the account page; the new one is checked against today's rules."})
			problems++
		}
	}
	if problems == 0 {
		r.pass(id, "Every account has a second factor and a current password", "the web accounts", fmt.Sprintf("%d accounts", len(ident.Accounts)))
	}
}

func checkCAKey(ctx context.Context, r *run) {
	const id = "identity.ca-key"
	f := r.facts.Files()
	checked := "the permissions of the household CA's private key " + f.CAKey
	st, err := os.Stat(f.CAKey)
	if err != nil {
		r.add(Finding{Check: id, Severity: Medium, Title: "The CA key could not be checked", Checked: checked, Seen: err.Error(), Fix: "Check that the data directory is intact."})
		return
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		r.add(Finding{Check: id, Severity: High, Title: "The household CA's key can be read by other users", Checked: checked,
			Seen: fmt.Sprintf("mode %#o", m),
			Fix:  "Run: chmod 600 " + f.CAKey + ". Anyone with this key can make certificates that the hub and every device trust."})
		return
	}
	r.pass(id, "Only the hub can read the CA key", checked, fmt.Sprintf("mode %#o", st.Mode().Perm()))
}

func checkAttacks(ctx context.Context, r *run) {
	const id = "identity.attacks"
	ident, ok := r.identity(ctx)
	if !ok {
		return
	}
	checked := "failed logins and refused connections in the last 24 hours"
	seen := fmt.Sprintf("%d failed logins or invite redemptions, %d refused TLS handshakes or MQTT connections", ident.FailedLogins, ident.RefusedConnections)
	if ident.FailedLogins >= r.opt.AttackThreshold || ident.RefusedConnections >= r.opt.AttackThreshold {
		r.add(Finding{Check: id, Severity: Medium, Title: "Someone may be trying to break in", Checked: checked, Seen: seen,
			Fix: "See the Log page for where the attempts come from. If it is not a family member's forgotten password or an old device, find that machine on your network; consider changing the Wi-Fi password."})
		return
	}
	r.pass(id, "No sign of an attack in the last day", checked, seen)
}
