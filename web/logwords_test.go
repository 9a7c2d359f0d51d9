package web

import (
	"strings"
	"testing"

	"github.com/toyhub/toyhub/store"
)

// TestLogSentences: every kind the hub writes has a sentence, and the
// sentences name people, toys and invites instead of showing their IDs.
func TestLogSentences(t *testing.T) {
	for _, k := range store.EventKinds() {
		if _, ok := sentences[k]; !ok {
			t.Errorf("no sentence for %s", k)
		}
	}
	const (
		sarah  = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
		gran   = "bbbbbbbbbbbbbbbbbbbbbbbbbb"
		bunny  = "cccccccccccccccccccccccccc"
		invite = "k3mz8q2a"
		gone   = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	)
	names := namer{sarah: "Sarah", gran: "Grandma", bunny: "Bunny", invite: "Grandpa Joe"}
	tests := []struct {
		e    store.Event
		want string
	}{
		{store.Event{Kind: store.EvLinkApproved, User: sarah, Device: gran, Detail: bunny}, "Sarah approved Grandma for Bunny."},
		{store.Event{Kind: store.EvLinkMuted, User: sarah, Device: gran, Detail: bunny}, "Sarah muted Grandma with Bunny."},
		{store.Event{Kind: store.EvInviteCreated, User: sarah, Detail: invite}, "Sarah invited Grandpa Joe."},
		{store.Event{Kind: store.EvInviteRevoked, User: sarah, Detail: "zzzzzzzz"}, "Sarah withdrew the invite for someone."},
		{store.Event{Kind: store.EvDeviceAdded, Remote: "console", Device: bunny, Detail: "toy, certificate 1f2e"}, "A parent at the hub added the toy Bunny."},
		{store.Event{Kind: store.EvDeviceRemoved, User: sarah, Device: gone, Detail: "messages kept"}, "Sarah removed someone removed, keeping its messages."},
		{store.Event{Kind: store.EvPairOpened, User: sarah, Detail: "window 10m0s"}, "Sarah started pairing a toy, for 10 minutes."},
		{store.Event{Kind: store.EvPairRefused, Remote: "192.168.1.9", Detail: "wrong code, or no pairing started"}, "A toy's pairing was refused: the code was wrong, or no pairing was started."},
		{store.Event{Kind: store.EvJoined, User: gran, Device: gran, Detail: "web account, 1 toys"}, "Grandma joined with an invite, in the web app."},
		{store.Event{Kind: store.EvSettingsChanged, User: sarah, Device: bunny, Detail: "retention played, quiet 20:00-07:00, daily limit 0"}, "Sarah changed Bunny's settings: messages kept until played, quiet hours 20:00 to 07:00, no daily limit."},
		{store.Event{Kind: store.EvMessagesDeleted, User: sarah, Detail: "deleted in the web app: 1: 0123456789abcdef0123456789abcdef"}, "Sarah deleted 1 message for good."},
		{store.Event{Kind: store.EvMessagesDeleted, Detail: "retention: 3: x,y,z"}, "3 messages were deleted: their toys keep messages no longer."},
		{store.Event{Kind: store.EvCheckDone, Detail: "daily: 0 high, 2 medium, 1 low"}, "The security check ran as it does every day: 2 things to look at."},
		{store.Event{Kind: store.EvExport, User: sarah, Detail: "plain, 12 messages, web"}, "Sarah exported everything (12 messages, not encrypted) from the web app."},
		{store.Event{Kind: store.EvLoginFailed, Remote: "10.0.0.2"}, "A login with an unknown name failed."},
		{store.Event{Kind: store.EvLoginRefused, Detail: "rate limited: 30 more in the last minute, not recorded one by one"}, "30 more logins were told to wait: too many failed attempts."},
		{store.Event{Kind: "link", Device: gran, Detail: bunny}, "A parent let two devices message each other."},
	}
	for _, tt := range tests {
		got := names.entry(tt.e).say()
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.e.Kind, got, tt.want)
		}
		if idPattern.MatchString(got) || strings.Contains(got, string(tt.e.Kind)+" ") {
			t.Errorf("%s: %q shows an ID or a code", tt.e.Kind, got)
		}
	}
}
