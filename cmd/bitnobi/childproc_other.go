//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// setChildAttrs leaves the scheduled command's process attributes alone.
func setChildAttrs(*exec.Cmd) {}

// terminate stops a scheduled command.
func terminate(p *os.Process) error { return p.Kill() }
