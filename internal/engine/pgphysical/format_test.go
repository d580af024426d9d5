package pgphysical

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-dev/coffer/internal/engine"
	"github.com/coffer-dev/coffer/internal/engine/postgres"
)

// crafted encodes a stream with the given files and returns it with
// metadata whose digest matches, as if a backup had produced it.
func crafted(t *testing.T, files map[string]string) ([]byte, *engine.Metadata) {
	t.Helper()
	var buf bytes.Buffer
	dig := engine.NewDigest()
	enc := newEncoder(PlainSink(&buf), dig)
	if err := enc.start(); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		if err := enc.file(p, 0o600, int64(len(c)), strings.NewReader(c), PageSize); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.end(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), &engine.Metadata{FormatVersion: engine.FormatVersion, Engine: postgres.Name, DumpFormat: DumpFormat,
		StreamSize: dig.Size(), StreamSHA256: dig.Sum(), Physical: &engine.Physical{ManifestChecksums: "CRC32C"}}
}

// TestRestoreRefusesUnsafePaths: a record whose path would leave the
// data directory fails the restore, even when the stream's digest
// matches, and nothing is written outside the directory.
func TestRestoreRefusesUnsafePaths(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, p := range []string{"../evil", "/etc/evil", "base/../../evil", "./evil"} {
		// The encoder is trusted; forge the record by hand.
		stream, md := crafted(t, map[string]string{"PG_VERSION": "15\n"})
		forged := bytes.Replace(stream, []byte("\x0aPG_VERSION"), append([]byte{byte(len(p))}, p...), 1)
		dig := engine.NewDigest()
		dig.Write(forged)
		md.StreamSize, md.StreamSHA256 = dig.Size(), dig.Sum()
		dir := filepath.Join(root, "data")
		_, err := e.Restore(context.Background(), bytes.NewReader(forged), dir, md)
		if !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), "not a clean relative path") {
			t.Fatalf("path %q: %v", p, err)
		}
		if _, err := os.Stat(filepath.Join(root, "evil")); err == nil {
			t.Fatalf("path %q wrote outside the data directory", p)
		}
	}
}

// TestRestoreNeedsManifest: a stream without backup_manifest is refused.
func TestRestoreNeedsManifest(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream, md := crafted(t, map[string]string{"PG_VERSION": "15\n"})
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := e.Restore(context.Background(), bytes.NewReader(stream), dir, md); !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), "backup_manifest") {
		t.Fatalf("restore without a manifest: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatal("a failed restore left files behind")
	}
}

// TestWALStalePagesZeroed: pages of a WAL segment whose header does not
// carry their own address are stored as zeros; current pages pass.
func TestWALStalePagesZeroed(t *testing.T) {
	const seg = 4 * PageSize
	wal := make([]byte, seg)
	base := uint64(3)<<32 + 2*seg // pg_wal/000000010000000300000002 with 32 KiB segments
	for i := 0; i < 4; i++ {
		page := wal[i*PageSize : (i+1)*PageSize]
		addr := base + uint64(i)*PageSize
		if i >= 2 {
			addr -= 7 * seg // recycled: an old segment's pages
		}
		for k := 0; k < 8; k++ {
			page[8+k] = byte(addr >> (8 * k))
		}
		page[100] = 0xAB
	}
	got := make([]byte, seg)
	ok, start := walSegment("pg_wal/000000010000000300000002", seg)
	if !ok || start != base {
		t.Fatalf("walSegment: %v %x, want %x", ok, start, base)
	}
	r := &walPages{r: bytes.NewReader(wal), addr: start}
	n := 0
	for n < seg {
		m, err := r.Read(got[n:])
		if err != nil {
			t.Fatal(err)
		}
		n += m
	}
	if !bytes.Equal(got[:2*PageSize], wal[:2*PageSize]) {
		t.Fatal("current WAL pages changed")
	}
	if !bytes.Equal(got[2*PageSize:], make([]byte, 2*PageSize)) {
		t.Fatal("stale WAL pages were not zeroed")
	}
}
