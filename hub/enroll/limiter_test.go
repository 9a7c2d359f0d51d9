package enroll

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Now()
	l := newLimiter(2, 3, time.Minute)
	steps := []struct {
		name    string
		source  string
		fail    bool
		at      time.Duration
		allowed bool
	}{
		{"first try", "a", true, 0, true},
		{"second try", "a", true, 0, true},
		{"per source", "a", false, 0, false},
		{"another source", "b", true, 0, true},
		{"global", "c", false, 0, false},
		{"window passed", "a", false, 2 * time.Minute, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got := l.allowed(s.source, now.Add(s.at)); got != s.allowed {
				t.Fatalf("allowed = %v, want %v", got, s.allowed)
			}
			if s.fail {
				l.failed(s.source, now.Add(s.at))
			}
		})
	}
}
