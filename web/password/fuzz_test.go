package password

import "testing"

// FuzzCheckPassword: any password and context words from a form are
// judged, never a crash; a password the rules accept is one they must
// accept (12 to 128 characters).
func FuzzCheckPassword(f *testing.F) {
	f.Add("violet tractor umbrella geology", "Mum")
	f.Add("Cloudpets2017!", "")
	f.Add("\xff\xfe\x00 ünïcødé pässwörd ✓✓✓", "Grandma Rosalind")
	f.Fuzz(func(t *testing.T, pw, ctx string) {
		if err := Check(pw, []string{ctx}); err == nil && (len([]rune(pw)) < MinLength || len([]rune(pw)) > MaxLength) {
			t.Fatalf("accepted %d characters", len([]rune(pw)))
		}
	})
}
