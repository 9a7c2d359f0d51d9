// Package password is the policy for people's passwords and how they are
// kept: NIST SP 800-63B's rules (length, a check against guessable
// choices with zxcvbn and the household's own words, no composition
// rules) and Argon2id hashes in PHC form. The web app, the household
// service and the console all check passwords here, so the rules cannot
// differ between them.
//
// Hashing is bounded to a few at a time, whoever calls it, so that a
// burst of logins costs bounded memory.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"golang.org/x/crypto/argon2"
)

// The policy. The version is stored with each hash, so that the
// hub's audit can point out passwords set under an older policy.
//
// Policy 2 asks a zxcvbn score of 4 (10^10 guesses) where policy 1 asked
// 3 (10^8): measured on 3,000 passwords of the shape guessers try first,
// one common word with a year and a few characters ("Summer2024!!x"),
// score 3 let in 73.6% and score 4 0.1%, while neither refused any of
// 2,000 passphrases of three or four words (TestGuessableShapes). It is
// a bound on guessability, not a composition rule.
const (
	PolicyVersion = 2
	MinLength     = 12  // characters, not bytes
	MaxLength     = 128 // long passphrases are welcome; nothing is truncated
	MinScore      = 4   // zxcvbn: 4 is "very unguessable", 10^10 guesses or more
)

// alwaysRefused are context words refused in every household's passwords:
// the product, and the service whose breach the hub exists to prevent.
var alwaysRefused = []string{"toyhub", "cloudpets"}

// Error says, in words for the form, why a password was refused.
type Error struct {
	Reason string
}

func (e *Error) Error() string { return "password refused: " + e.Reason }

// Check applies the policy: length by characters (12 to 128), a
// zxcvbn score of at least MinScore given the context, and none of the context
// words (the product, "cloudpets", and the user's and household's names,
// the children's and the toys') inside it, compared without case. There
// are no composition rules: a long passphrase of plain words passes.
func Check(password string, context []string) error {
	if !utf8.ValidString(password) {
		return &Error{"it is not valid text"}
	}
	n := utf8.RuneCountInString(password)
	if n < MinLength {
		return &Error{fmt.Sprintf("it has %d characters; use at least %d (a few words make a good one)", n, MinLength)}
	}
	if n > MaxLength {
		return &Error{fmt.Sprintf("it has %d characters; at most %d are allowed", n, MaxLength)}
	}
	lower := strings.ToLower(password)
	words := contextWords(context)
	for _, w := range words {
		if strings.Contains(lower, w) {
			return &Error{fmt.Sprintf("it contains %q, which anyone who knows this family or this hub could guess", w)}
		}
	}
	if r := zxcvbn.PasswordStrength(password, words); r.Score < MinScore {
		return &Error{"it is too easy to guess (common words, names, dates, keyboard patterns or repeats); add more unrelated words"}
	}
	return nil
}

// contextWords splits names and e-mail addresses into the words a guesser
// would try, lower case, ignoring short ones.
func contextWords(context []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string, min int) {
		w = strings.ToLower(strings.TrimSpace(w))
		if utf8.RuneCountInString(w) >= min && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, w := range alwaysRefused {
		add(w, 3)
	}
	for _, c := range context {
		add(c, 3)
		// Parts of a name need four letters: "the" or "com" would refuse
		// innocent passphrases.
		for _, part := range strings.FieldsFunc(c, func(r rune) bool { return strings.ContainsRune(" @.-_+'", r) }) {
			add(part, 4)
		}
	}
	return out
}

// Argon2id parameters, from RFC 9106 and OWASP's second recommendation
// (46 MiB, one pass, one lane): with at most hashConcurrency hashes at a
// time, a login storm uses under 100 MB, which a Raspberry Pi with 1 GB
// survives. BenchmarkHashPassword measures the time per hash.
const (
	argonMemory     = 46 * 1024 // KiB
	argonTime       = 1
	argonThreads    = 1
	argonKeyLen     = 32
	argonSaltLen    = 16
	hashConcurrency = 2
)

// hashSlots bounds concurrent Argon2id computations.
var hashSlots = make(chan struct{}, hashConcurrency)

func argonKey(password string, salt []byte, m, t uint32, p uint8) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	key := argon2.IDKey([]byte(password), salt, t, m, p, argonKeyLen)
	// The hash's 46 MiB are garbage now. Collected at once, they are what
	// the next hash reuses; left to the pacer, the heap grows by 46 MiB a
	// login until GOMEMLIMIT, and the hub's RSS with it. A cycle costs a
	// few milliseconds beside the hash's tens, and not the login's: it
	// runs on its own goroutine.
	go runtime.GC()
	return key
}

// Hash returns the password's Argon2id hash in PHC string form.
func Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argonKey(password, salt, argonMemory, argonTime, argonThreads)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// ErrBadHash means a stored hash is not one this program writes.
var ErrBadHash = errors.New("password: unrecognised password hash")

// Verify checks a password against a PHC Argon2id hash, in
// constant time, with the parameters recorded in the hash (so hashes made
// under older parameters keep working).
func Verify(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var version int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8*1024 || m > 1<<20 || t < 1 || t > 16 || p < 1 {
		return false, ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) != argonKeyLen {
		return false, ErrBadHash
	}
	return subtle.ConstantTimeCompare(argonKey(password, salt, m, t, p), want) == 1, nil
}
