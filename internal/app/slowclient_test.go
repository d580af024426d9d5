package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/coffer-dev/coffer/internal/app"
	"github.com/coffer-dev/coffer/internal/config"
	"github.com/coffer-dev/coffer/internal/testenv"
)

// rssBytes is this process's resident set size.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		testenv.Missing(t, "no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// 100 slow unauthenticated connections, half stalled in their headers,
// half declaring a 10 MiB body and stalling after 1 MiB of it, leave the
// server's memory within 30 MB of where it was, and are closed after
// the read timeouts, while signed requests go on being served.
func TestSlowConnections(t *testing.T) {
	c := testenv.StartCoffer(t, func(c *config.Config) {
		c.Limits.ReadHeaderTimeout = 2 * time.Second
		c.Limits.ReadTimeout = 4 * time.Second
		c.Limits.IdleTimeout = 2 * time.Second
	})
	// As coffer serve collects garbage (app.TuneGC).
	defer debug.SetGCPercent(debug.SetGCPercent(app.ServerGCPercent))
	ctx := context.Background()
	client := sts.NewFromConfig(c.AWSConfig(t, c.Profile(t, "default")))
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes(t)

	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = '{'
	}
	var conns []net.Conn
	for i := range 100 {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
		head := "POST / HTTP/1.1\r\nHost: " + u.Host + "\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\n"
		if i%2 == 0 {
			_, err = io.WriteString(conn, head+"X-Slow: ") // stalls in the headers
		} else {
			_, err = fmt.Fprintf(conn, "%sContent-Length: %d\r\n\r\n", head, 10<<20)
			if err == nil {
				_, err = conn.Write(chunk)
			}
		}
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	// Signed requests are served while the slow connections are held.
	for range 5 {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("signed request during the slow connections: %v", err)
		}
	}
	grew := rssBytes(t) - before
	t.Logf("resident memory grew %d MB", grew>>20)
	if grew > 30<<20 {
		t.Errorf("resident memory grew %d MB with 100 slow connections, want at most 30 MB", grew>>20)
	}
	// Each is closed by the server: reading it ends (after an error
	// answer for those whose body never came).
	for i, conn := range conns {
		if err := conn.SetReadDeadline(time.Now().Add(2 * time.Minute)); err != nil {
			t.Fatal(err)
		}
		_, err := io.Copy(io.Discard, bufio.NewReader(conn))
		if err != nil {
			t.Errorf("connection %d was not closed by the server: %v", i, err)
		}
	}
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("signed request after the slow connections: %v", err)
	}
}
