package main

import "github.com/toyhub/toyhub/hub/control"

// call runs a control operation against the hub serving dir, shaped as the
// tests check it: the result, if wanted, into res.
func call[A, R any](dir string, op control.Op[A, R], a A, res *R) error {
	r, err := op.Call(dir, a)
	if res != nil {
		*res = r
	}
	return err
}
