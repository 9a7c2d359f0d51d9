package hub_test

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/archive"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// target is what a door acts on in one case: a toy and a person (each
// door gets its own, made alike), and whatever else the case made.
type target struct {
	toy, toyName       string
	person, personName string
	extra              string // an invite's ID, a message's ID
}

// TestDoorsAgree: every operation that both the console and the web app
// offer is one operation: through either door it writes the same audit
// events and tells open pages of the same devices. Each case prepares a
// target for each door alike, acts through the door, and records what the
// audit log and the live feed got, with the target's IDs as roles.
func TestDoorsAgree(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	data := th.cfg.DataDir
	n := 0
	fresh := func(t *testing.T) target {
		t.Helper()
		n++
		tg := target{toyName: fmt.Sprintf("Toy %d", n), personName: fmt.Sprintf("Person %d", n)}
		tg.toy = th.device(tg.toyName, "toy").Info.DeviceID
		tg.person = th.device(tg.personName, "family").Info.DeviceID
		return tg
	}
	linked := func(t *testing.T) target {
		tg := fresh(t)
		th.link(tg.personName, tg.toyName)
		return tg
	}
	waiting := func(t *testing.T) target { // a contact that waits for a parent's approval
		t.Helper()
		n++
		tg := target{toyName: fmt.Sprintf("Toy %d", n), personName: fmt.Sprintf("Person %d", n)}
		tg.toy = th.device(tg.toyName, "toy").Info.DeviceID
		e, err := join(t, th.invite(t, tg.personName, []string{tg.toyName}, ""))
		if err != nil {
			t.Fatal(err)
		}
		tg.person = e.Info.DeviceID
		return tg
	}
	invited := func(t *testing.T) target {
		tg := fresh(t)
		res, err := control.InviteCreate.Call(data, control.InviteArgs{Name: "Invitee " + tg.toyName, Toys: []string{tg.toyName}})
		if err != nil {
			t.Fatal(err)
		}
		tg.extra = res.ID
		return tg
	}
	withMessage := func(t *testing.T) target {
		tg := fresh(t)
		resp, id := mum.do("POST", "/toys/"+tg.toy+"/messages", "audio/wav", recording(1, uint32(n)))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("a message for %s: %d", tg.toyName, resp.StatusCode)
		}
		tg.extra = id
		return tg
	}
	postOK := func(t *testing.T, path string, form url.Values) {
		t.Helper()
		if code, body := mum.post(path, form); code != http.StatusSeeOther && code != http.StatusOK {
			t.Fatalf("POST %s: %d\n%s", path, code, body)
		}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mumID := ownDevice(t, th)

	cases := []struct {
		name      string
		prepare   func(*testing.T) target
		console   func(*testing.T, target)
		web       func(*testing.T, target)
		wantKinds []string
	}{
		{"pair a toy", fresh,
			func(t *testing.T, tg target) {
				must(t, call(data, control.PairOpen, control.PairArgs{Code: wire.NewPairingCode().String(), Name: "Paired " + tg.toyName}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/toys/pair", url.Values{"code": {wire.NewPairingCode().String()}, "name": {"Paired " + tg.toyName}})
			}, []string{"pair.opened"}},
		{"revoke a toy", fresh,
			func(t *testing.T, tg target) {
				must(t, call(data, control.DeviceRevoke, control.NameArgs{Name: tg.toyName}, nil))
			},
			func(t *testing.T, tg target) { postOK(t, "/toys/"+tg.toy+"/revoke", nil) },
			[]string{"device.revoked"}},
		{"remove a toy", fresh,
			func(t *testing.T, tg target) {
				must(t, call(data, control.DeviceRemove, control.RemoveArgs{Name: tg.toyName, KeepMessages: true}, nil))
			},
			func(t *testing.T, tg target) { postOK(t, "/toys/"+tg.toy+"/remove", url.Values{"messages": {"keep"}}) },
			[]string{"device.removed"}},
		{"remove a person", fresh,
			func(t *testing.T, tg target) {
				must(t, call(data, control.DeviceRemove, control.RemoveArgs{Name: tg.personName}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/people/"+tg.person+"/remove", url.Values{"messages": {"delete"}})
			}, []string{"device.removed"}},
		{"approve a contact", waiting,
			func(t *testing.T, tg target) { th.link(tg.personName, tg.toyName) },
			func(t *testing.T, tg target) {
				postOK(t, "/family/approve", url.Values{"person": {tg.person}, "toy": {tg.toy}})
			},
			[]string{"link.approved"}},
		{"refuse a contact", waiting,
			func(t *testing.T, tg target) {
				must(t, call(data, control.Unlink, control.LinkArgs{A: tg.personName, B: tg.toyName}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/refuse", url.Values{"person": {tg.person}, "toy": {tg.toy}})
			},
			[]string{"link.refused"}},
		{"mute", linked,
			func(t *testing.T, tg target) {
				must(t, call(data, control.Mute, control.LinkArgs{A: tg.personName, B: tg.toyName}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/people/"+tg.person+"/mute", url.Values{"toy": {tg.toy}, "muted": {"1"}})
			}, []string{"link.muted"}},
		{"unmute", linked,
			func(t *testing.T, tg target) {
				must(t, call(data, control.Unmute, control.LinkArgs{A: tg.personName, B: tg.toyName}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/people/"+tg.person+"/mute", url.Values{"toy": {tg.toy}, "muted": {"0"}})
			}, []string{"link.unmuted"}},
		{"a daily limit", fresh,
			func(t *testing.T, tg target) {
				limit := 5
				must(t, call(data, control.DeviceSet, control.SettingsArgs{Name: tg.personName, DailyLimit: &limit}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/people/"+tg.person+"/limit", url.Values{"daily_limit": {"5"}})
			}, []string{"settings.changed"}},
		{"a toy's settings", fresh,
			func(t *testing.T, tg target) {
				limit := 3
				must(t, call(data, control.DeviceSet, control.SettingsArgs{Name: tg.toyName, Retention: "30d", Quiet: "20:00-07:00", DailyLimit: &limit}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/toys/"+tg.toy+"/settings", url.Values{"retention": {"30d"}, "quiet_start": {"20:00"}, "quiet_end": {"07:00"}, "daily_limit": {"3"}})
			}, []string{"settings.changed"}},
		{"invite", fresh,
			func(t *testing.T, tg target) {
				must(t, call(data, control.InviteCreate, control.InviteArgs{Name: "Invitee " + tg.toyName, Toys: []string{tg.toyName}}, nil))
			},
			func(t *testing.T, tg target) {
				postOK(t, "/family/invites", url.Values{"name": {"Invitee " + tg.toyName}, "toy": {tg.toy}})
			}, []string{"invite.created"}},
		{"withdraw an invite", invited,
			func(t *testing.T, tg target) {
				must(t, call(data, control.InviteRevoke, control.IDArgs{ID: tg.extra}, nil))
			},
			func(t *testing.T, tg target) { postOK(t, "/family/invites/"+tg.extra+"/revoke", nil) },
			[]string{"invite.revoked"}},
		{"delete a message", withMessage,
			func(t *testing.T, tg target) {
				must(t, call(data, control.MessagesDelete, control.IDsArgs{IDs: []string{tg.extra}}, nil))
			},
			func(t *testing.T, tg target) { postOK(t, "/toys/"+tg.toy+"/messages/"+tg.extra+"/delete", nil) },
			[]string{"messages.deleted"}},
		{"export", fresh,
			func(t *testing.T, tg target) {
				_, err := archive.ExportFile(data, filepath.Join(t.TempDir(), "export.zip"), archive.ExportOptions{})
				must(t, err)
			},
			func(t *testing.T, tg target) {
				if resp, _ := mum.do("POST", "/export", "application/x-www-form-urlencoded", []byte(url.Values{"plain": {"1"}, "current": {ownerPassword}}.Encode())); resp.StatusCode != 200 {
					t.Fatalf("export: %d", resp.StatusCode)
				}
			}, []string{"export"}},
		{"a wrong password to delete everything", fresh,
			func(t *testing.T, tg target) {
				if err := call(data, control.Wipe, control.WipeArgs{Login: "Mum", Password: "not the password at all"}, nil); err == nil {
					t.Fatal("wiped with a wrong password")
				}
			},
			func(t *testing.T, tg target) {
				if code, _ := mum.post("/wipe", url.Values{"confirm": {"delete everything"}, "current": {"not the password at all"}}); code != http.StatusUnauthorized {
					t.Fatalf("wipe with a wrong password: %d", code)
				}
			}, []string{"wipe.refused"}},
		{"the security check", fresh,
			func(t *testing.T, tg target) { must(t, call(data, control.CheckRun, control.AuditArgs{}, nil)) },
			func(t *testing.T, tg target) {
				before := lastEvent(t, th)
				postOK(t, "/security/run", url.Values{"network": {"0"}})
				waitFor(t, func() bool { return slices.Contains(kindsSince(t, th, before, 0), "check.done") })
			}, []string{"check.started", "check.done"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got [2]observed
			for i, door := range []func(*testing.T, target){tc.console, tc.web} {
				tg := tc.prepare(t)
				got[i] = observe(t, th, func() { door(t, tg) }, map[string]string{tg.toy: "toy", tg.person: "person", mumID: "parent"})
			}
			console, web := got[0], got[1]
			if !slices.Equal(console.kinds, tc.wantKinds) {
				t.Errorf("console: audit events %v, want %v", console.kinds, tc.wantKinds)
			}
			if !slices.Equal(web.kinds, console.kinds) {
				t.Errorf("audit events: console %v, web %v", console.kinds, web.kinds)
			}
			if !slices.Equal(web.live, console.live) {
				t.Errorf("live updates: console %v, web %v", console.live, web.live)
			}
		})
	}
}

// observed is what one operation did that others can see.
type observed struct {
	kinds []string // audit events written, oldest first (the web app's door events aside)
	live  []string // devices the live feed named, as roles, sorted; "*" for "every page"
}

// observe runs do and records the audit events and live updates it made.
// IDs in roles are shown by their role; others as "other".
func observe(t *testing.T, th *testHub, do func(), roles map[string]string) observed {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(th.h.SyncStore())
	last := lastEvent(t, th)
	changes, stop := th.h.WatchLive()
	defer stop()
	do()
	must(th.h.SyncStore())
	var o observed
	o.kinds = kindsSince(t, th, last, 0)
	seen := map[string]bool{}
	for {
		select {
		case ids := <-changes:
			if len(ids) == 0 {
				seen["*"] = true
			}
			for _, id := range ids {
				if r, ok := roles[id]; ok {
					seen[r] = true
				} else {
					seen["other"] = true
				}
			}
			continue
		case <-time.After(50 * time.Millisecond):
		}
		break
	}
	for r := range seen {
		o.live = append(o.live, r)
	}
	slices.Sort(o.live)
	return o
}

// doorEvents are written by the web app's door itself (a login, a page
// refused), not by an operation.
var doorEvents = regexp.MustCompile(`^(login|logout|session|web)\.|^login$`)

func lastEvent(t *testing.T, th *testHub) int64 {
	t.Helper()
	evs, err := control.AuditList.Call(th.cfg.DataDir, control.CountArgs{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[0].ID
}

// kindsSince lists the kinds of the audit events after the one with ID
// after, oldest first (at most the newest n when n > 0).
func kindsSince(t *testing.T, th *testHub, after int64, n int) []string {
	t.Helper()
	evs, err := control.AuditList.Call(th.cfg.DataDir, control.CountArgs{Count: max(n, 10000)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].ID > after && !doorEvents.MatchString(evs[i].Kind) {
			out = append(out, evs[i].Kind)
		}
	}
	return out
}

// ownDevice is the owner's account's device, which every toy is linked to.
func ownDevice(t *testing.T, th *testHub) string {
	t.Helper()
	ds, err := control.DeviceList.Call(th.cfg.DataDir, control.None{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if strings.EqualFold(d.Name, "Mum") {
			return d.ID
		}
	}
	t.Fatal("the owner has no device")
	return ""
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 600 {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("timed out")
}
