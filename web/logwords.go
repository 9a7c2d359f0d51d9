package web

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/toyhub/toyhub/store"
)

// The Log page speaks in sentences with names ("Sarah approved Grandma
// for Bunny"), never in the audit log's codes, IDs or terms: each kind
// has its sentence here, built from who did it, the device it is about
// and its detail, with every ID in it named.

// entry is one audit event with its names resolved.
type entry struct {
	e       store.Event
	who     string // the person who acted: a name, "A parent at the hub" for the console, "" for the hub itself
	device  string // the device it is about, named
	other   string // a second device named in the detail
	invitee string // whom an invite is for (its detail is the invite's ID)
	detail  string // the detail with every known ID named
}

// namer names IDs: devices, accounts and invites.
type namer map[string]string

var idPattern = regexp.MustCompile(`\b[a-z2-7]{26}\b|\b[0-9a-f]{32}\b`)

// name is the name of an ID, or what it was.
func (n namer) name(id string) string {
	if v, ok := n[id]; ok {
		return displayName(v)
	}
	if len(id) == 32 {
		return "a message"
	}
	return "someone removed"
}

func (n namer) entry(e store.Event) entry {
	en := entry{e: e, detail: idPattern.ReplaceAllStringFunc(e.Detail, n.name)}
	switch {
	case e.User != "":
		en.who = n.name(e.User)
	case e.Remote == "console":
		en.who = "A parent at the hub"
	}
	if e.Device != "" {
		en.device = n.name(e.Device)
	}
	if idPattern.MatchString(e.Detail) {
		en.other = n.name(idPattern.FindString(e.Detail))
	}
	if strings.HasPrefix(string(e.Kind), "invite.") {
		en.invitee = "someone"
		if name, ok := n[e.Detail]; ok {
			en.invitee = name
		}
	}
	return en
}

// actor is who acted, as a sentence's subject.
func (en entry) actor() string {
	if en.who == "" {
		return "The hub"
	}
	return en.who
}

// plural writes n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// whyWords are the refusals' reasons, in words.
var whyWords = map[string]string{
	"wrong code, or no pairing started":        "the code was wrong, or no pairing was started",
	"rate limited":                             "too many tries from one place",
	"code already used":                        "that code had paired a toy already",
	"pairing window expired":                   "the toy came too late",
	"bad invite":                               "the link was wrong, used already, expired or withdrawn",
	"invite unknown, used, expired or revoked": "the link was wrong, used already, expired or withdrawn",
	"invite spent meanwhile":                   "it had just been used",
	"parent's invite used by a device":         "a parent's invite was tried on a device",
	"bad setup token":                          "the link was not valid",
	"wrong password":                           "the password was wrong",
	"wrong code":                               "the code was wrong",
}

func why(detail string) string {
	if w, ok := whyWords[detail]; ok {
		return w
	}
	if strings.HasPrefix(detail, "store:") {
		return "the hub could not save it"
	}
	return "it was not allowed"
}

// sentences say what each kind of entry means.
var sentences = map[store.EventKind]func(en entry) string{
	store.EvDeviceAdded: func(en entry) string {
		what := "the device"
		if strings.HasPrefix(en.e.Detail, "toy") {
			what = "the toy"
		}
		return fmt.Sprintf("%s added %s %s.", en.actor(), what, en.device)
	},
	store.EvDeviceRenamed: func(en entry) string { return fmt.Sprintf("%s renamed a toy: it is now %s.", en.actor(), en.device) },
	store.EvDeviceRevoked: func(en entry) string {
		return fmt.Sprintf("%s switched off %s: it can no longer connect.", en.actor(), en.device)
	},
	store.EvDeviceRemoved: func(en entry) string {
		msgs := "keeping its messages"
		if strings.Contains(en.e.Detail, "deleted") {
			msgs = "deleting its messages"
		}
		return fmt.Sprintf("%s removed %s, %s.", en.actor(), en.device, msgs)
	},
	store.EvCertRenewed: func(en entry) string {
		return fmt.Sprintf("%s's certificate was renewed, as it is every few weeks.", en.device)
	},
	store.EvPairOpened: func(en entry) string {
		s := en.actor() + " started pairing a toy"
		if d, err := time.ParseDuration(strings.TrimPrefix(en.e.Detail, "window ")); err == nil {
			s += ", for " + plural(int(d.Minutes()), "minute", "minutes")
		}
		return s + "."
	},
	store.EvPaired:      func(en entry) string { return en.device + " paired with the hub." },
	store.EvPairRefused: func(en entry) string { return "A toy's pairing was refused: " + why(en.e.Detail) + "." },
	store.EvJoined: func(en entry) string {
		if strings.HasPrefix(en.e.Detail, "web account") {
			return en.device + " joined with an invite, in the web app."
		}
		return en.device + " joined with an invite, on a toyhub device."
	},
	store.EvJoinRefused: func(en entry) string { return "An invite was refused: " + why(en.e.Detail) + "." },
	store.EvLinkAdded: func(en entry) string {
		return fmt.Sprintf("%s let %s and %s message each other.", en.actor(), en.device, en.other)
	},
	store.EvLinkApproved: func(en entry) string { return fmt.Sprintf("%s approved %s for %s.", en.actor(), en.device, en.other) },
	store.EvLinkRefused:  func(en entry) string { return fmt.Sprintf("%s refused %s for %s.", en.actor(), en.device, en.other) },
	store.EvLinkRemoved: func(en entry) string {
		return fmt.Sprintf("%s stopped %s and %s messaging each other.", en.actor(), en.device, en.other)
	},
	store.EvLinkMuted:   func(en entry) string { return fmt.Sprintf("%s muted %s with %s.", en.actor(), en.device, en.other) },
	store.EvLinkUnmuted: func(en entry) string { return fmt.Sprintf("%s unmuted %s with %s.", en.actor(), en.device, en.other) },
	store.EvInviteCreated: func(en entry) string {
		return fmt.Sprintf("%s invited %s.", en.actor(), en.invitee)
	},
	store.EvInviteRevoked: func(en entry) string {
		return fmt.Sprintf("%s withdrew the invite for %s.", en.actor(), en.invitee)
	},
	store.EvSetup:        func(en entry) string { return en.actor() + " set up the hub, as its owner." },
	store.EvSetupRefused: func(en entry) string { return "A setup link was refused: " + why(en.e.Detail) + "." },
	store.EvLogin:        func(en entry) string { return en.actor() + " logged in." },
	store.EvLoginFailed: func(en entry) string {
		s := "A login with an unknown name failed."
		if en.who != "" {
			s = "A login as " + en.who + " failed"
			if en.e.Detail == "wrong code" {
				s += ": the code was wrong"
			}
			s += "."
		}
		return s
	},
	store.EvLoginRefused: func(en entry) string {
		var more int
		if _, err := fmt.Sscanf(en.e.Detail, "rate limited: %d more", &more); err == nil {
			return fmt.Sprintf("%s were told to wait: too many failed attempts.", plural(more, "more login", "more logins"))
		}
		return "A login was told to wait: too many failed attempts."
	},
	store.EvLogout:          func(en entry) string { return en.actor() + " logged out." },
	store.EvSessionEnded:    func(en entry) string { return en.actor() + " logged out another browser." },
	store.EvPasswordChanged: func(en entry) string { return en.actor() + " changed their password." },
	store.EvPasswordRefused: func(en entry) string {
		return en.actor() + "'s new password was refused: " + why(en.e.Detail) + "."
	},
	store.EvPasswordReset: func(en entry) string { return en.actor() + "'s password was reset at the hub." },
	store.EvTOTPAdded:     func(en entry) string { return en.actor() + " added a code app." },
	store.EvTOTPRemoved: func(en entry) string {
		if en.e.Detail == "from the console" {
			return en.actor() + "'s code app was removed at the hub."
		}
		return en.actor() + " removed their code app."
	},
	store.EvTOTPRequired: func(en entry) string {
		if en.e.Detail == "1" {
			return en.actor() + " made a code app required for every account."
		}
		return en.actor() + " made code apps optional."
	},
	store.EvWebRefused: func(en entry) string {
		return en.actor() + " tried to open something that is not for their account."
	},
	store.EvReauthRefused: func(en entry) string {
		return en.actor() + " was asked again who they are, and " + why(en.e.Detail) + "."
	},
	store.EvSettingsChanged: func(en entry) string {
		return fmt.Sprintf("%s changed %s's settings: %s.", en.actor(), en.device, settingsWords(en.e.Detail))
	},
	store.EvMessagesDeleted: func(en entry) string {
		parts := strings.SplitN(en.e.Detail, ": ", 3)
		n := 0
		if len(parts) > 1 {
			n, _ = strconv.Atoi(parts[1])
		}
		if parts[0] == "retention" {
			return fmt.Sprintf("%s deleted: their toys keep messages no longer.", plural(n, "message was", "messages were"))
		}
		return fmt.Sprintf("%s deleted %s for good.", en.actor(), plural(n, "message", "messages"))
	},
	store.EvCheckStarted: func(en entry) string {
		if strings.Contains(en.e.Detail, "network") {
			return en.actor() + " started the security check of the hub and the home network."
		}
		return en.actor() + " started the security check."
	},
	store.EvCheckDone: func(en entry) string {
		var trigger string
		var high, medium, low int
		if i := strings.Index(en.e.Detail, ": "); i > 0 {
			trigger = en.e.Detail[:i]
			fmt.Sscanf(en.e.Detail[i+2:], "%d high, %d medium, %d low", &high, &medium, &low)
		}
		s := "The security check ran"
		if w, ok := triggerWords[trigger]; ok {
			s += " " + w
		}
		switch {
		case high > 0:
			return s + ": " + plural(high, "serious problem", "serious problems") + " to fix."
		case medium > 0:
			return s + ": " + plural(medium, "thing", "things") + " to look at."
		}
		return s + ": all is well."
	},
	store.EvClockBehind: func(en entry) string {
		return "The hub's clock was behind its own records: toys cannot connect until its date is right."
	},
	store.EvBackupDone:   func(en entry) string { return "A backup was taken." },
	store.EvBackupFailed: func(en entry) string { return "The daily backup failed. The hub's log says why." },
	store.EvExport: func(en entry) string {
		parts := strings.Split(en.e.Detail, ", ")
		s := en.actor() + " exported everything"
		if len(parts) == 3 {
			n, _ := strconv.Atoi(strings.TrimSuffix(parts[1], " messages"))
			how := "encrypted"
			if parts[0] == "plain" {
				how = "not encrypted"
			}
			where := map[string]string{"web": "from the web app", "console": "at the hub"}[parts[2]]
			s += fmt.Sprintf(" (%s, %s) %s", plural(n, "message", "messages"), how, where)
		}
		return strings.TrimSpace(s) + "."
	},
	store.EvWipeRefused: func(en entry) string {
		return "Deleting everything was refused: the owner's password or code was wrong."
	},
	store.EvBrowserCertIssued: func(en entry) string {
		return en.actor() + " got a certificate for a browser, to reach the hub from far away."
	},
	store.EvBrowserCertRevoked: func(en entry) string {
		return fmt.Sprintf("%s withdrew a browser certificate of %s's: that browser can no longer reach the hub from far away.", en.actor(), en.device)
	},
	store.EvRemoteEnabled: func(en entry) string {
		s := en.actor() + " turned remote access on"
		if strings.Contains(en.e.Detail, "by hand") {
			s += ", with the router's port forwarded by hand"
		}
		return s + "."
	},
	store.EvRemoteDisabled: func(en entry) string { return en.actor() + " turned remote access off." },
	store.EvRemoteMapped: func(en entry) string {
		if strings.HasPrefix(en.e.Detail, "external address changed") {
			return "The home line's Internet address changed; the router forwards the remote port to the hub again."
		}
		return "The home router forwards the remote port to the hub."
	},
	store.EvRemoteMapFailed: func(en entry) string {
		switch en.e.Detail {
		case "cgnat":
			return "The home router could not open the remote port: the line is behind the provider's own address sharing."
		case "refused":
			return "The home router refused to forward the remote port to the hub."
		}
		return "No router on the home network forwards ports: the remote port must be forwarded by hand."
	},
	store.EvRemoteRefused: func(en entry) string {
		if strings.HasSuffix(en.e.Detail, "not recorded one by one") {
			var n int
			fmt.Sscanf(en.e.Detail, "%d more", &n)
			return fmt.Sprintf("%s from outside the home %s refused.", plural(n, "more connection", "more connections"), map[bool]string{true: "was", false: "were"}[n == 1])
		}
		return "A connection from outside the home was refused: " + remoteWhy(en.e.Detail) + "."
	},
}

// remoteWhy says why the remote door refused, in words.
func remoteWhy(detail string) string {
	switch {
	case strings.Contains(detail, "without a certificate"), strings.Contains(detail, "TLS handshake"), strings.Contains(detail, "no protocol"):
		return "it had no certificate from this hub"
	case strings.Contains(detail, "browser certificate"):
		return "its certificate was withdrawn or had run out"
	case strings.Contains(detail, "too many"):
		return "too many tries from one place"
	case strings.Contains(detail, "too long"):
		return "it was too slow"
	}
	return "it was not allowed"
}

// triggerWords say why a check ran.
var triggerWords = map[string]string{
	"manual": "when a parent asked", "daily": "as it does every day",
	"change": "after a change",
}

// settingsWords reads "retention 30d, quiet 20:00-07:00, daily limit 0".
func settingsWords(detail string) string {
	var out []string
	for _, part := range strings.Split(detail, ", ") {
		switch {
		case strings.HasPrefix(part, "retention "):
			v := strings.TrimPrefix(part, "retention ")
			days := map[string]int{"forever": store.RetainForever, "played": store.RetainOncePlayed}[v]
			if n, err := strconv.Atoi(strings.TrimSuffix(v, "d")); err == nil {
				days = n
			}
			out = append(out, "messages kept "+store.KeptText(days))
		case strings.HasPrefix(part, "quiet "):
			v := strings.TrimPrefix(part, "quiet ")
			if v == "none" {
				out = append(out, "no quiet hours")
			} else {
				out = append(out, "quiet hours "+strings.Replace(v, "-", " to ", 1))
			}
		case strings.HasPrefix(part, "daily limit "):
			v := strings.TrimPrefix(part, "daily limit ")
			if v == "0" {
				out = append(out, "no daily limit")
			} else {
				out = append(out, v+" messages a day")
			}
		}
	}
	return strings.Join(out, ", ")
}

// say is an entry's sentence.
func (en entry) say() string {
	if f, ok := sentences[en.e.Kind]; ok {
		return f(en)
	}
	return en.e.Kind.Text() + "." // an older hub's kinds
}
