package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

const healthHelp = `Usage: bitnobi health [--url URL]

Asks a running server whether it is alive (GET URL/api/health) and exits
0 when it answers 200, 1 otherwise. It is the container image's
HEALTHCHECK, which has no curl or wget: the image holds only this binary.
`

func (m *Main) runHealth(ctx context.Context, args []string) error {
	fs := m.newFlagSet("health", healthHelp)
	u := fs.String("url", "http://127.0.0.1:8000", "the server's address")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*u, "/")+"/api/health", nil)
	if err != nil {
		return usagef("bitnobi health --url http://127.0.0.1:8000", "--url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", *u, resp.Status)
	}
	fmt.Fprintln(m.Stdout, "ok")
	return nil
}
