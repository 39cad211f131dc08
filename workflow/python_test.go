package workflow_test

import (
	"context"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bitnobi/bitnobi"
	"github.com/bitnobi/bitnobi/workflow"
)

// pythonOpts are tight limits, so that the limit tests end quickly.
func pythonOpts(hidden ...string) *workflow.PythonOptions {
	return &workflow.PythonOptions{
		PythonSettings: bitnobi.PythonSettings{Enabled: true, CPUSeconds: 2, MemoryMB: 256, OutputMB: 1, WallSeconds: 10},
		Hidden:         hidden,
	}
}

func runPython(t *testing.T, code string, opts *workflow.PythonOptions) ([]string, [][]any, error) {
	t.Helper()
	in := workflow.NewRows([]string{"name", "n"}, [][]any{{"ann", int64(1)}, {"bob", int64(2)}, {nil, 2.5}})
	rows, err := workflow.RunPython(context.Background(), code, in, opts)
	if err != nil {
		return nil, nil, err
	}
	cols := rows.Columns()
	out, err := workflow.ReadAll(rows)
	return cols, out, err
}

func TestPython(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		code := "def transform(rows):\n" +
			"    for r in rows:\n" +
			"        yield {'who': (r['name'] or '?').upper(), 'twice': r['n'] * 2, 'ok': r['n'] > 1, 'env': len(__import__('os').environ)}\n"
		cols, rows, err := runPython(t, code, pythonOpts())
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"who", "twice", "ok", "env"}; !reflect.DeepEqual(cols, want) {
			t.Errorf("columns=%q, want %q", cols, want)
		}
		// The environment is the harness's five variables, none of the server's.
		want := [][]any{{"ANN", int64(2), "false", int64(5)}, {"BOB", int64(4), "true", int64(5)}, {"?", 5.0, "true", int64(5)}}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("rows=%#v, want %#v", rows, want)
		}
	})
	t.Run("DeclaredColumnsNoRows", func(t *testing.T) {
		cols, rows, err := runPython(t, "columns = ['a', 'b']\ndef transform(rows):\n    return []\n", pythonOpts())
		if err != nil || !reflect.DeepEqual(cols, []string{"a", "b"}) || len(rows) != 0 {
			t.Fatalf("cols=%q rows=%v err=%v", cols, rows, err)
		}
	})
	fails := []struct {
		name, code, msg string
	}{
		{"NoTransform", "x = 1\n", "must define transform(rows)"},
		{"DuplicateColumns", "columns = ['a', 'a']\ndef transform(rows):\n    return []\n", "must be distinct"},
		{"KeyOutsideColumns", "def transform(rows):\n    yield {'a': 1}\n    yield {'b': 2}\n", "output row 2 has key 'b'"},
		{"Exception", "def transform(rows):\n    raise ValueError('bad row')\n", "ValueError: bad row"},
		{"EndlessLoop", "def transform(rows):\n    while True:\n        pass\n", "CPU time limit of 2 s"},
		{"Sleeper", "import time\ndef transform(rows):\n    time.sleep(3600)\n", "time limit of 1 s"},
		{"MemoryHog", "def transform(rows):\n    a = []\n    while True:\n        a.append(bytearray(10 << 20))\n", "ran out of memory (its limit is 256 MiB"},
		{"TooMuchOutput", "def transform(rows):\n    while True:\n        yield {'x': 'y' * 1000}\n", "output limit of 1 MiB"},
		{"Subprocess", "import subprocess\ndef transform(rows):\n    subprocess.run(['true'])\n    return []\n", "may not use subprocess.Popen"},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			opts := pythonOpts()
			switch tt.name {
			case "Sleeper":
				opts.WallSeconds = 1
			case "EndlessLoop":
				// A loaded machine may give the loop its 2 s of CPU
				// only slowly: the wall-time limit must not come first.
				opts.WallSeconds = 120
			}
			start := time.Now()
			_, _, err := runPython(t, tt.code, opts)
			if err == nil || !strings.Contains(bitnobi.ErrorMessage(err), tt.msg) {
				t.Fatalf("err=%v, want one containing %q", err, tt.msg)
			}
			// Nothing outlives its wall-time limit (plus the time to kill
			// and reap the process).
			if d, limit := time.Since(start), time.Duration(opts.WallSeconds)*time.Second+5*time.Second; d > limit {
				t.Errorf("took %s, over the wall-time limit", d)
			}
		})
	}
	t.Run("DataDirectory", func(t *testing.T) {
		data := t.TempDir()
		if err := os.WriteFile(filepath.Join(data, "secret.txt"), []byte("s3cret-content"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, code := range []string{
			"def transform(rows):\n    return [{'x': open(" + pyString(filepath.Join(data, "secret.txt")) + ").read()}]\n",
			"import os\ndef transform(rows):\n    return [{'x': str(os.listdir(" + pyString(data) + "))}]\n",
		} {
			_, rows, err := runPython(t, code, pythonOpts(data))
			if err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "PermissionError") {
				t.Fatalf("rows=%v err=%v, want a PermissionError", rows, err)
			}
			if strings.Contains(bitnobi.ErrorMessage(err), "s3cret-content") {
				t.Fatalf("the error shows the file: %v", err)
			}
		}
	})
	t.Run("DataDirectoryRelative", func(t *testing.T) {
		// The server's default data directory is relative (./bitnobi/data)
		// and the code runs in a work directory of its own: the guard must
		// hold for the server's relative path all the same. The files are
		// readable by anyone, so that only the guard stands in the way.
		data, err := os.MkdirTemp(".", "python-hidden-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(data) })
		if err := os.Chmod(data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "secret.txt"), []byte("s3cret-content"), 0o644); err != nil {
			t.Fatal(err)
		}
		abs, err := filepath.Abs(filepath.Join(data, "secret.txt"))
		if err != nil {
			t.Fatal(err)
		}
		code := "def transform(rows):\n    return [{'x': open(" + pyString(abs) + ").read()}]\n"
		_, rows, err := runPython(t, code, pythonOpts(data))
		if err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "PermissionError") {
			t.Fatalf("rows=%v err=%v, want a PermissionError", rows, err)
		}
	})
	t.Run("Socket", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan struct{}, 1)
		go func() {
			if c, err := ln.Accept(); err == nil {
				accepted <- struct{}{}
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		code := "import socket\ndef transform(rows):\n    s = socket.create_connection(('127.0.0.1', " + itoa(port) + "), timeout=2)\n    return [{'x': 'connected'}]\n"
		_, rows, err := runPython(t, code, pythonOpts())
		if err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "PermissionError") {
			t.Fatalf("rows=%v err=%v, want a PermissionError", rows, err)
		}
		select {
		case <-accepted:
			t.Fatal("the Python code reached a socket on 127.0.0.1")
		case <-time.After(200 * time.Millisecond):
		}
	})
}

// TestRunPythonElement runs a Python element inside a graph, between an
// Importer and a Select.
func TestRunPythonElement(t *testing.T) {
	in := newInputs()
	in.python = pythonOpts()
	code := "def transform(rows):\n    for r in rows:\n        if r['product'] == 'apple':\n            yield {'region': r['region'], 'cents': int(float(r['amount']) * 100)}\n"
	g := chain(importer("in", salesCSV), el("py", bitnobi.ElementPython, bitnobi.PythonConfig{Code: code}),
		el("sel", bitnobi.ElementSelect, bitnobi.SelectConfig{Where: []bitnobi.Condition{{Column: "cents", Op: ">", Value: "200"}}}),
		el("out", bitnobi.ElementResult, nil))
	cols, rows, err := run(t, g, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{"north", int64(1000)}, {"south", int64(500)}, {"east", int64(700)}}; !reflect.DeepEqual(rows, want) || !reflect.DeepEqual(cols, []string{"region", "cents"}) {
		t.Fatalf("cols=%q rows=%#v, want %#v", cols, rows, want)
	}
}

func pyString(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

func itoa(n int) string { return strconv.Itoa(n) }

// TestPythonKernelIsolation checks the kernel's part of the isolation,
// which the audit hook does not provide: a network namespace with only a
// loopback interface and, when the server runs as root, user nobody.
func TestPythonKernelIsolation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run as root: as another user, the network namespace depends on the kernel allowing user namespaces")
	}
	code := "import os\ndef transform(rows):\n" +
		"    ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]\n" +
		"    return [{'uid': os.getuid(), 'gid': os.getgid(), 'ifaces': ','.join(sorted(ifaces))}]\n"
	_, rows, err := runPython(t, code, pythonOpts())
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]any{{int64(65534), int64(65534), "lo"}}; !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows=%v, want %v (user nobody, only a loopback interface)", rows, want)
	}
}

// TestPythonUnencodableInput checks that an input value JSON cannot carry
// fails the run, rather than cutting the input short.
func TestPythonUnencodableInput(t *testing.T) {
	in := workflow.NewRows([]string{"x"}, [][]any{{1.0}, {math.NaN()}})
	rows, err := workflow.RunPython(context.Background(), "def transform(rows):\n    return list(rows)\n", in, pythonOpts())
	if err == nil {
		_, err = workflow.ReadAll(rows)
	}
	if err == nil || !strings.Contains(bitnobi.ErrorMessage(err), "cannot take") {
		t.Fatalf("err=%v, want one about the NaN", err)
	}
}

// BenchmarkPythonPassThrough measures a Python element that passes 10,000
// rows through: the process start and the JSON Lines both ways.
func BenchmarkPythonPassThrough(b *testing.B) {
	const n = 10000
	data := make([][]any, n)
	for i := range data {
		data[i] = []any{"row", int64(i), float64(i) / 2}
	}
	opts := pythonOpts()
	for b.Loop() {
		rows, err := workflow.RunPython(context.Background(), "def transform(rows):\n    return rows\n", workflow.NewRows([]string{"a", "b", "c"}, data), opts)
		if err != nil {
			b.Fatal(err)
		}
		out, err := workflow.ReadAll(rows)
		if err != nil || len(out) != n {
			b.Fatalf("%d rows, %v", len(out), err)
		}
	}
	b.ReportMetric(float64(n), "rows/op")
}
