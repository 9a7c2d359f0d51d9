//go:build !linux

package pageout

import "errors"

func executable() (int, error) { return 0, errors.New("pageout: not supported on this system") }
