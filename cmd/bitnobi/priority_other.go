//go:build !linux

package main

import "errors"

// lowerProcessPriority is implemented on Linux only: elsewhere it returns
// an error matching [errors.ErrUnsupported] and changes nothing.
func lowerProcessPriority() error { return errors.ErrUnsupported }
