package hub_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/toyhub/toyhub/hub"
	"github.com/toyhub/toyhub/hub/control"
	"github.com/toyhub/toyhub/wire"
)

// fakeClock is a hub clock that tests move forward.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func (th *testHub) set(t *testing.T, a control.SettingsArgs) {
	t.Helper()
	if err := call(th.cfg.DataDir, control.DeviceSet, a, nil); err != nil {
		t.Fatal(err)
	}
}

func (th *testHub) messages(t *testing.T, toy string) []control.MessageView {
	t.Helper()
	var ms []control.MessageView
	if err := call(th.cfg.DataDir, control.MessagesList, control.NameArgs{Name: toy}, &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestRetentionEnforced: the hub deletes what a toy's retention says, on
// its own, and the list says when each message goes.
func TestRetentionEnforced(t *testing.T) {
	clk := &fakeClock{}
	th := startHub(t, func(c *hub.Config) { c.Now, c.RetentionEvery = clk.now, 100*time.Millisecond })
	teddy, gran := th.device("Teddy", "toy"), th.device("Gran", "family")
	th.link("Teddy", "Gran")
	th.set(t, control.SettingsArgs{Name: "Teddy", Retention: "2d"})
	toy := th.dial(teddy)
	ctx := context.Background()
	if err := toy.Send(ctx, wire.NewMessageID(), recording(1, 1), nil); err != nil {
		t.Fatal(err)
	}
	ms := th.messages(t, "Teddy")
	if len(ms) != 1 || ms[0].DeleteAt.Sub(ms[0].SentAt) != 48*time.Hour {
		t.Fatalf("messages %+v", ms)
	}
	clk.advance(25 * time.Hour)
	time.Sleep(300 * time.Millisecond)
	if len(th.messages(t, "Teddy")) != 1 {
		t.Fatal("deleted before its time")
	}
	clk.advance(24 * time.Hour)
	for i := 0; len(th.messages(t, "Teddy")) != 0; i++ {
		if i > 100 {
			t.Fatal("retention did not delete the message")
		}
		time.Sleep(50 * time.Millisecond)
	}
	th.waitAudit(t, "messages.deleted")
	// "Once played": gone when Gran has played it.
	th.set(t, control.SettingsArgs{Name: "Teddy", Retention: "played"})
	if err := toy.Send(ctx, wire.NewMessageID(), recording(1, 2), nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if len(th.messages(t, "Teddy")) != 1 {
		t.Fatal("deleted before it was played")
	}
	receive(t, th.dial(gran), 1)
	for i := 0; len(th.messages(t, "Teddy")) != 0; i++ {
		if i > 100 {
			t.Fatal("not deleted once played")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestQuietHoursHoldThenDeliver: a message that arrives in the toy's
// quiet hours waits, and reaches the toy when they end.
func TestQuietHoursHoldThenDeliver(t *testing.T) {
	clk := &fakeClock{}
	th := startHub(t, func(c *hub.Config) { c.Now, c.QuietEvery = clk.now, 50*time.Millisecond })
	teddy, gran := th.device("Teddy", "toy"), th.device("Gran", "family")
	th.link("Teddy", "Gran")
	// Quiet from now for two hours (in the hub's local time).
	start := clk.now().Local()
	end := start.Add(2 * time.Hour)
	th.set(t, control.SettingsArgs{Name: "Teddy", Quiet: start.Format("15:04") + "-" + end.Format("15:04")})
	toy := th.dial(teddy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := wire.NewMessageID()
	if err := th.dial(gran).Send(ctx, id, recording(1, 5), []string{"Teddy"}); err != nil {
		t.Fatal(err)
	}
	if n, err := toy.Sync(ctx); err != nil || n != 0 {
		t.Fatalf("during quiet hours the toy is offered %d messages (%v)", n, err)
	}
	select {
	case n := <-toy.Notifications():
		t.Fatalf("notified during quiet hours: %+v", n)
	case <-time.After(500 * time.Millisecond):
	}
	clk.advance(2*time.Hour + time.Minute)
	select {
	case n := <-toy.Notifications():
		if n.ID != id {
			t.Fatalf("notified of %v", n.ID)
		}
	case <-ctx.Done():
		t.Fatal("the held message was not released when quiet hours ended")
	}
	if got := receive(t, toy, 1); len(got) != 1 {
		t.Fatal("not delivered after quiet hours")
	}
}

// TestLimitsAndMute: a sender's daily limit, and a muted contact.
func TestLimitsAndMute(t *testing.T) {
	th := startHub(t)
	teddy, gran := th.device("Teddy", "toy"), th.device("Gran", "family")
	th.link("Teddy", "Gran")
	one := 1
	th.set(t, control.SettingsArgs{Name: "Gran", DailyLimit: &one})
	g := th.dial(gran)
	ctx := context.Background()
	if err := g.Send(ctx, wire.NewMessageID(), recording(1, 1), nil); err != nil {
		t.Fatal(err)
	}
	err := g.Send(ctx, wire.NewMessageID(), recording(1, 2), nil)
	if code(t, err) != wire.CodeLimit || !strings.Contains(err.Error(), "for today") {
		t.Fatalf("over the limit: %v", err)
	}
	if err := call(th.cfg.DataDir, control.Mute, control.LinkArgs{A: "Teddy", B: "Gran"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := th.dial(teddy).Send(ctx, wire.NewMessageID(), recording(1, 3), []string{"Gran"}); code(t, err) != wire.CodeNotContact {
		t.Fatalf("to a muted contact: %v", err)
	}
	th.waitAudit(t, "mute")
}

// TestWebDeleteAndRemove: a parent deletes a message and removes a person
// with their messages; nothing of them is left in the database files.
func TestWebDeleteAndRemove(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	teddy := th.device("Teddy", "toy")
	uncle := th.device("Uncle Bartholomew", "family")
	th.link("Teddy", "Uncle Bartholomew")
	toy := th.dial(teddy)
	ctx := context.Background()
	fromToy, fromUncle := recording(3, 31), recording(3, 32)
	if err := toy.Send(ctx, wire.NewMessageID(), fromToy, []string{"Uncle Bartholomew"}); err != nil {
		t.Fatal(err)
	}
	if err := th.dial(uncle).Send(ctx, wire.NewMessageID(), fromUncle, []string{"Teddy"}); err != nil {
		t.Fatal(err)
	}
	_, page := mum.get("/toys/" + teddy.Info.DeviceID)
	del := regexp.MustCompile(`href="(/toys/[a-z0-9]+/messages/[0-9a-f]+/delete)"`).FindAllStringSubmatch(page, -1)
	if len(del) != 2 || !strings.Contains(page, "Messages are kept for 90 days") {
		t.Fatalf("delete buttons: %d\n%s", len(del), page)
	}
	// The button asks first, saying what will be lost; only its form acts.
	if code, ask := mum.get(del[0][1]); code != 200 || !strings.Contains(ask, "for good") || !strings.Contains(ask, `<form method="post">`) {
		t.Fatalf("delete asks: %d\n%s", code, ask)
	}
	if ms := th.messages(t, "Teddy"); len(ms) != 2 {
		t.Fatalf("asking deleted something: %d messages left", len(ms))
	}
	if code, _ := mum.post(del[0][1], url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	if ms := th.messages(t, "Teddy"); len(ms) != 1 {
		t.Fatalf("%d messages left", len(ms))
	}
	// Remove the uncle with his messages, once asked.
	if code, ask := mum.get("/family/people/" + uncle.Info.DeviceID + "/remove"); code != 200 || !strings.Contains(ask, "Remove Uncle Bartholomew?") {
		t.Fatalf("remove asks: %d\n%s", code, ask)
	}
	code, _ := mum.post("/family/people/"+uncle.Info.DeviceID+"/remove", url.Values{"messages": {"delete"}})
	if code != http.StatusSeeOther {
		t.Fatalf("remove: %d", code)
	}
	if ms := th.messages(t, "Teddy"); len(ms) != 0 {
		t.Fatalf("%d messages left", len(ms))
	}
	th.scanDB(t, "after deletion", personal([]string{"Uncle Bartholomew"}, fromToy, fromUncle))
	th.waitAudit(t, "device.removed")
}

// TestWebWipeRefusals: "delete everything" in the web app needs the owner,
// the words, and the password; a refusal deletes nothing and is audited.
func TestWebWipeRefusals(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.WebAddr = "127.0.0.1:0" })
	mum := th.setupOwner(t)
	for _, tt := range []struct {
		form url.Values
		want int
	}{
		{url.Values{"confirm": {"yes"}, "current": {ownerPassword}}, http.StatusBadRequest},
		{url.Values{"confirm": {"delete everything"}, "current": {"not the password at all"}}, http.StatusUnauthorized},
	} {
		if code, _ := mum.post("/wipe", tt.form); code != tt.want {
			t.Fatalf("%v: %d, want %d", tt.form, code, tt.want)
		}
	}
	th.waitAudit(t, "wipe.refused")
	if code, _ := mum.get("/"); code != 200 {
		t.Fatalf("the hub stopped serving after a refused wipe: %d", code)
	}
}

// TestRateLimits: the hub's own bounds on one device, whatever its
// parents set: messages a minute and bytes a day.
func TestRateLimits(t *testing.T) {
	th := startHub(t, func(c *hub.Config) { c.MaxMessagesPerMinute, c.MaxBytesPerDay = 3, 2<<20 })
	teddy, _ := th.device("Teddy", "toy"), th.device("Gran", "family")
	th.link("Teddy", "Gran")
	toy := th.dial(teddy)
	ctx := context.Background()
	for i := range 3 {
		if err := toy.Send(ctx, wire.NewMessageID(), recording(1, uint32(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	err := toy.Send(ctx, wire.NewMessageID(), recording(1, 9), nil)
	if code(t, err) != wire.CodeLimit || !strings.Contains(err.Error(), "too fast") {
		t.Fatalf("a fourth message in a minute: %v", err)
	}
	th2 := startHub(t, func(c *hub.Config) { c.MaxBytesPerDay = 2100000 })
	a, _ := th2.device("Teddy", "toy"), th2.device("Gran", "family")
	th2.link("Teddy", "Gran")
	c := th2.dial(a)
	if err := c.Send(ctx, wire.NewMessageID(), recording(60, 1), nil); err != nil { // 1.9 MB
		t.Fatal(err)
	}
	if err := c.Send(ctx, wire.NewMessageID(), recording(10, 2), nil); code(t, err) != wire.CodeLimit {
		t.Fatalf("past the bytes of a day: %v", err)
	}
}
