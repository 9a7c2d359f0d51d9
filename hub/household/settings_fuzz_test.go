package household

import (
	"testing"

	"github.com/toyhub/toyhub/store"
)

// FuzzSettingsForm: the retention and quiet-hours fields of the toy
// settings form, as a parent (or anyone holding a parent's session) types
// them. Whatever parses must write back as the same value.
func FuzzSettingsForm(f *testing.F) {
	for _, s := range [][2]string{
		{"90d", "20:00-07:00"}, {"forever", "none"}, {"played", ""}, {"0d", "7:00 - 7:00"},
		{"-5d", "24:00-01:00"}, {"99999999999999999999d", "\xff-\xfe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, retention, quiet string) {
		if days, err := ParseRetention(retention); err == nil {
			if again, err := ParseRetention(FormatRetention(days)); err != nil || again != days {
				t.Fatalf("retention %q read as %d, written as %q", retention, days, FormatRetention(days))
			}
		}
		on, start, end, err := ParseQuiet(quiet)
		if err != nil {
			return
		}
		if start < 0 || start >= 24*60 || end < 0 || end >= 24*60 || (on && start == end) {
			t.Fatalf("quiet %q read as %v %d-%d", quiet, on, start, end)
		}
		st := store.Settings{Quiet: on, QuietStart: start, QuietEnd: end}
		on2, s2, e2, err := ParseQuiet(FormatQuiet(st))
		if err != nil || on2 != on || (on && (s2 != start || e2 != end)) {
			t.Fatalf("quiet %q written as %q", quiet, FormatQuiet(st))
		}
	})
}
