package web

import (
	"testing"
	"time"
)

// FuzzCheckPassword: any password and context words from a form are
// judged, never a crash; a password the rules accept is one they must
// accept (12 to 128 characters).
func FuzzCheckPassword(f *testing.F) {
	f.Add("violet tractor umbrella geology", "Mum")
	f.Add("Cloudpets2017!", "")
	f.Add("\xff\xfe\x00 ünïcødé pässwörd ✓✓✓", "Grandma Rosalind")
	f.Fuzz(func(t *testing.T, pw, ctx string) {
		if err := CheckPassword(pw, []string{ctx}); err == nil && (len([]rune(pw)) < 12 || len([]rune(pw)) > 128) {
			t.Fatalf("accepted %d characters", len([]rune(pw)))
		}
	})
}

// FuzzTOTP: any code typed at login is checked or refused, never a crash.
func FuzzTOTP(f *testing.F) {
	f.Add("123456")
	f.Add(" 12 34 56 ")
	f.Fuzz(func(t *testing.T, code string) {
		_, _ = checkTOTP("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", code, time.Unix(1_800_000_000, 0))
	})
}
