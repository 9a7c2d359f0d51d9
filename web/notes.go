package web

import (
	"net/http"
	"net/url"
)

// A note confirms, in place, what a parent just did. The action redirects
// to its page (post/redirect/get, so that a reload posts nothing again)
// with ?done=KIND&on=ID, and a fragment that scrolls to the thing it
// names; the page shows the note's words beside it. The URL carries only
// a kind and an ID, never words: a link cannot make the page say
// anything.
type Note struct {
	On   string // the ID of what it is about; "" for the page
	Text string
}

// noteTexts are the words of each kind of note.
var noteTexts = map[string]string{
	"saved":          "Saved.",
	"renamed":        "Renamed.",
	"removed":        "Removed.",
	"deleted":        "Deleted for good.",
	"approved":       "Approved: they can talk to each other now.",
	"refused":        "Refused: they cannot talk to each other.",
	"muted":          "Muted: messages between them wait until you unmute.",
	"unmuted":        "Unmuted.",
	"withdrawn":      "Withdrawn: the invite no longer works.",
	"remote-on":      "Remote access is on.",
	"remote-off":     "Remote access is off: the port is closed, and the router was asked to forget it.",
	"cert-withdrawn": "Withdrawn: that browser can no longer reach the hub from far away.",
	"toys":           "Saved: they can talk to the toys ticked.",
	"limit":          "Saved.",
}

// done ends an action: back to page, with the note of kind about id.
func done(w http.ResponseWriter, r *http.Request, page, kind, id string) {
	u := page + "?done=" + url.QueryEscape(kind)
	if id != "" {
		u += "&on=" + url.QueryEscape(id) + "#x-" + id
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// noteOf is the note a page was asked to show, if any.
func noteOf(r *http.Request) Note {
	q := r.URL.Query()
	text, ok := noteTexts[q.Get("done")]
	if !ok {
		return Note{}
	}
	return Note{On: q.Get("on"), Text: text}
}
