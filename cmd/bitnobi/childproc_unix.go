//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// setChildAttrs starts a scheduled command in a session of its own: it
// then leads it and lowers the session's nice value with its own, which
// is what counts against the server where the kernel groups processes by
// session (autogroups).
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// terminate asks a scheduled command to stop, as ^C or a service manager
// would.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
