package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckPassword(t *testing.T) {
	context := []string{"The Wilkinsons", "Grandma Rosalind", "rosalind.wilkinson@example.org", "Poppy", "Bunny Fluff"}
	tests := []struct {
		name     string
		password string
		ok       bool
		reason   string // part of the explanation
	}{
		{"the breached service", "cloudpets", false, "at least 12"},
		{"the breached service, padded", "cloudpets-forever-and-ever", false, `"cloudpets"`},
		{"the breached service, capitalised", "Cloudpets2017!", false, `"cloudpets"`},
		{"digits", "123456789012", false, "too easy"},
		{"the product", "my toyhub password is long", false, `"toyhub"`},
		{"the household", "wilkinsons rule the world", false, `"wilkinsons"`},
		{"a child", "poppy and the purple dragon", false, `"poppy"`},
		{"a toy", "bunny loves carrots so much", false, `"bunny"`},
		{"e-mail domain", "visit example for details now", false, `"example"`},
		{"common password", "password1234", false, "too easy"},
		{"keyboard walk", "qwertyuiopasdf", false, "too easy"},
		{"repeats", "aaaaaaaaaaaaaaaa", false, "too easy"},
		{"short", "Xk9#mQ2!", false, "at least 12"},
		{"too long", strings.Repeat("violet tractor umbrella ", 6), false, "at most 128"},
		{"counts characters, not bytes", "ñandú pingüino ñu", true, ""},
		{"passphrase", "violet tractor umbrella geology", true, ""},
		{"random", "t7#Qz!pL2@vW9x", true, ""},
		{"exactly 128", strings.Repeat("x", 100) + "violet tractor umbrella geo", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.password, context)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("accepted (err %v)", err)
			}
			if !strings.Contains(pe.Reason, tt.reason) {
				t.Fatalf("reason %q does not mention %q", pe.Reason, tt.reason)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	h1, err := Hash("violet tractor umbrella geology")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := Hash("violet tractor umbrella geology")
	if h1 == h2 || !strings.HasPrefix(h1, "$argon2id$v=19$m=47104,t=1,p=1$") {
		t.Fatalf("hashes %q %q", h1, h2)
	}
	tests := []struct {
		name     string
		password string
		hash     string
		ok       bool
		err      error
	}{
		{"right", "violet tractor umbrella geology", h1, true, nil},
		{"wrong", "violet tractor umbrella geolog", h1, false, nil},
		{"nothing truncated", "violet tractor umbrella geology!", h1, false, nil},
		{"other scheme", "x", "$2a$10$abcdefghijklmnopqrstuv", false, ErrBadHash},
		{"tampered parameters", "x", strings.Replace(h1, "m=47104", "m=1", 1), false, ErrBadHash},
		{"short key", "x", h1[:len(h1)-10], false, ErrBadHash},
		{"empty", "x", "", false, ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify(tt.password, tt.hash)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Fatalf("Verify = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
	// A hash made under other parameters (OWASP's first recommendation)
	// still verifies: parameters are read from the hash.
	salt := []byte("0123456789abcdef")
	key := argonKey("old password here", salt, 19456, 2, 1)
	old := "$argon2id$v=19$m=19456,t=2,p=1$" + b64(salt) + "$" + b64(key)
	if ok, err := Verify("old password here", old); !ok || err != nil {
		t.Fatalf("older parameters: %v %v", ok, err)
	}
}

// BenchmarkHashPassword is the cost of one login on this machine; with
// two at a time, at most about 92 MiB is in use.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("violet tractor umbrella geology"); err != nil {
			b.Fatal(err)
		}
	}
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// BenchmarkLoginFlood is a burst of logins at once, as a guessing attack
// would make: hashing is bounded to two at a time, so eight callers take
// four times as long each as one alone while memory stays at two hashes'
// worth. Compare the two sub-benchmarks' ns/op and peak-MiB.
func BenchmarkLoginFlood(b *testing.B) {
	for _, callers := range []int{1, 8} {
		b.Run(fmt.Sprintf("%d at once", callers), func(b *testing.B) {
			var peak atomic.Uint64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var ms runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
				}
			}()
			for b.Loop() {
				var wg sync.WaitGroup
				for range callers {
					wg.Go(func() {
						if _, err := Hash("violet tractor umbrella geology"); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
			}
			close(stop)
			<-sampled
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-MiB")
		})
	}
}
