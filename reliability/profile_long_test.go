//go:build reliability_long

package reliability_test

func init() { longByTag = true }
