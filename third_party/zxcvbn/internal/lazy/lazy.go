// Package lazy holds values built on first use. Added for toyhub: a zero
// Value needs no initialisation, unlike sync.OnceValue called at package
// level, so a program that never checks a password does no zxcvbn work.
package lazy

import "sync"

// Value is a value built once, by the first Get.
type Value[T any] struct {
	once sync.Once
	v    T
}

// Get returns the value, building it with build the first time.
func (l *Value[T]) Get(build func() T) T {
	l.once.Do(func() { l.v = build() })
	return l.v
}
