package web_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLargeUploadStreams uploads a CSV of hundreds of MB through the web
// upload route, as the page's script does (JSON answer), generating the
// body as it is sent, and checks that the server's heap stays far below
// the file's size: the file streams to the blob store, never into memory.
func TestLargeUploadStreams(t *testing.T) {
	size := int64(300 << 20)
	if raceEnabled || testing.Short() {
		size = 24 << 20
	}
	e := newEnv(t)
	c := e.client(t)
	c.signUp("ada", "correct horse battery")
	tok := c.csrf("/datasources/new")

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("name", "big")
		mw.WriteField("description", "")
		mw.WriteField("format", "csv")
		fw, err := mw.CreateFormFile("file", "big.csv")
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		bw := bufio.NewWriterSize(fw, 1<<20)
		var n int64
		n0, _ := io.WriteString(bw, "id,region,amount\n")
		n += int64(n0)
		for i := 0; n < size; i++ {
			k, err := fmt.Fprintf(bw, "%d,%s,%d\n", i, []string{"north", "south", "east", "west"}[i%4], i%1000)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			n += int64(k)
		}
		bw.Flush()
		pw.CloseWithError(mw.Close())
	}()

	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	req, _ := http.NewRequest("POST", e.HTTP.URL+"/datasources/upload?csrf="+url.QueryEscape(tok), pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	resp, err := c.c.Do(req)
	close(done)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ds struct {
		ID   string `json:"id"`
		Size int64  `json:"size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	if ds.Size < size {
		t.Fatalf("stored %d bytes, sent over %d", ds.Size, size)
	}
	if limit := uint64(64 << 20); peak.Load() > limit {
		t.Fatalf("heap in use peaked at %d MiB while uploading %d MiB: the upload is held in memory", peak.Load()>>20, size>>20)
	}
	t.Logf("uploaded %d MiB, heap in use peaked at %d MiB", ds.Size>>20, peak.Load()>>20)
	// The page of the new data source previews it without reading it all.
	if resp, body := c.get("/datasources/" + ds.ID); resp.StatusCode != 200 || !strings.Contains(body, "the file has more") {
		t.Fatalf("data source page: %d", resp.StatusCode)
	}
}
