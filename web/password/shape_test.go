package password

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
)

// decorated are passwords of the shape guessers try first: one common
// word (a common password, a frequent English word, a season, month, day
// or team), a year, and a few characters, with and without a capital.
// A rule-based cracker reaches each within about 10^9 guesses.
func decorated(n int, rng *rand.Rand) []string {
	words := append([]string{"summer", "winter", "spring", "autumn", "january", "february", "march", "april", "june", "july",
		"august", "september", "october", "november", "december", "monday", "tuesday", "friday", "sunday", "christmas",
		"liverpool", "chelsea", "arsenal", "football", "welcome", "password", "holiday", "grandma", "princess", "sunshine"},
		frequency.Lists()["passwords"][:300]...)
	words = append(words, frequency.Lists()["english_wikipedia"][:300]...)
	suffixes := []string{"!", "!!", "!!x", "#", "?", "!1", ".", "@", "$$", "!a", "*", "!?", "xx", "1!"}
	var out []string
	for len(out) < n {
		w := words[rng.IntN(len(words))]
		if rng.IntN(2) == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		p := fmt.Sprintf("%s%d%s", w, 1950+rng.IntN(81), suffixes[rng.IntN(len(suffixes))])
		if utf8.RuneCountInString(p) >= MinLength {
			out = append(out, p)
		}
	}
	return out
}

// passphrases are what the hub's pages suggest: three or four unrelated
// words, from a 10,000-word list, with or without spaces.
func passphrases(n int, rng *rand.Rand) []string {
	list := frequency.Lists()["english_wikipedia"][1000:11000]
	var out []string
	for len(out) < n {
		k := 3 + rng.IntN(2)
		ws := make([]string, k)
		for i := range ws {
			ws[i] = list[rng.IntN(len(list))]
		}
		sep := []string{" ", "", "-"}[rng.IntN(3)]
		if p := strings.Join(ws, sep); utf8.RuneCountInString(p) >= MinLength {
			out = append(out, p)
		}
	}
	return out
}

// TestGuessableShapes measures how many decorated words and how many
// passphrases each policy lets through: zxcvbn's score of 3 (the hub's
// policy 1) and of 4 (policy 2). The hub's policy must let through under
// 1% of the decorated words and refuse under 1% of the passphrases.
// Two words and a number, a weaker shape the pages do not suggest, are
// measured too. 'go test -run TestGuessableShapes -v ./web/password'
// prints the table.
func TestGuessableShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	weak, strong, twoWords := decorated(3000, rng), passphrases(2000, rng), twoWordsAndANumber(1000, rng)
	policies := []struct {
		name   string
		accept func(p string) bool
	}{
		{"zxcvbn score 3 or more (the hub before)", func(p string) bool { return zxcvbn.PasswordStrength(p, nil).Score >= 3 }},
		{"zxcvbn score 4 (the hub now)", func(p string) bool { return Check(p, nil) == nil }},
	}
	rate := func(ps []string, accept func(string) bool) float64 {
		n := 0
		for _, p := range ps {
			if accept(p) {
				n++
			}
		}
		return float64(n) / float64(len(ps))
	}
	t.Logf("%-42s %22s %20s %28s", "policy", "decorated words let in", "passphrases refused", "two words and a number refused")
	for _, p := range policies {
		w, s, two := rate(weak, p.accept), 1-rate(strong, p.accept), 1-rate(twoWords, p.accept)
		t.Logf("%-42s %21.1f%% %19.1f%% %27.1f%%", p.name, 100*w, 100*s, 100*two)
		if strings.HasSuffix(p.name, "(the hub now)") && (w > 0.01 || s > 0.01) {
			t.Errorf("the hub's policy lets in %.1f%% of decorated words and refuses %.1f%% of passphrases", 100*w, 100*s)
		}
	}
}

// twoWordsAndANumber are two words of the same list and a number.
func twoWordsAndANumber(n int, rng *rand.Rand) []string {
	list := frequency.Lists()["english_wikipedia"][1000:11000]
	var out []string
	for len(out) < n {
		p := fmt.Sprintf("%s%s%d", list[rng.IntN(len(list))], list[rng.IntN(len(list))], rng.IntN(100))
		if utf8.RuneCountInString(p) >= MinLength {
			out = append(out, p)
		}
	}
	return out
}
