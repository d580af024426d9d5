package pgphysical

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/coffer-dev/coffer/internal/engine"
)

// manifestName is the file PostgreSQL's backup manifest is restored as,
// where pg_basebackup puts it and pg_verifybackup looks for it.
const manifestName = "backup_manifest"

// backupManifest is PostgreSQL's backup_manifest (version 1).
type backupManifest struct {
	Version   int             `json:"PostgreSQL-Backup-Manifest-Version"`
	Files     []manifestFile  `json:"Files"`
	WALRanges []manifestRange `json:"WAL-Ranges"`
	Checksum  string          `json:"Manifest-Checksum"`
}

type manifestFile struct {
	Path        string `json:"Path"`
	EncodedPath string `json:"Encoded-Path"`
	Size        int64  `json:"Size"`
	Algorithm   string `json:"Checksum-Algorithm"`
	Checksum    string `json:"Checksum"`
}

type manifestRange struct {
	Timeline uint32 `json:"Timeline"`
	Start    string `json:"Start-LSN"`
	End      string `json:"End-LSN"`
}

// parseManifest decodes a backup_manifest and checks its own SHA-256,
// which covers everything up to and including the newline that precedes
// the Manifest-Checksum line.
func parseManifest(b []byte) (*backupManifest, error) {
	var m backupManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, corrupt("backup_manifest: %v", err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("%w: backup_manifest version %d", engine.ErrFormat, m.Version)
	}
	body := bytes.TrimRight(b, "\n")
	i := bytes.LastIndexByte(body, '\n')
	if i < 0 || !bytes.Contains(body[i:], []byte(`"Manifest-Checksum"`)) {
		return nil, corrupt("backup_manifest has no checksum line")
	}
	sum := sha256.Sum256(b[:i+1])
	if hex.EncodeToString(sum[:]) != m.Checksum {
		return nil, corrupt("backup_manifest's checksum does not match its contents")
	}
	for i, f := range m.Files {
		if f.Path == "" {
			p, err := hex.DecodeString(f.EncodedPath)
			if err != nil || len(p) == 0 {
				return nil, corrupt("backup_manifest: bad Encoded-Path %q", f.EncodedPath)
			}
			m.Files[i].Path = string(p)
		}
	}
	return &m, nil
}

// newChecksum returns the hash behind a manifest algorithm name; nil
// for NONE.
func newChecksum(alg string) (hash.Hash, error) {
	switch alg {
	case "CRC32C":
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), nil
	case "SHA224":
		return sha256.New224(), nil
	case "SHA256":
		return sha256.New(), nil
	case "SHA384":
		return sha512.New384(), nil
	case "SHA512":
		return sha512.New(), nil
	case "NONE", "":
		return nil, nil
	}
	return nil, fmt.Errorf("%w: backup_manifest checksum algorithm %q", engine.ErrFormat, alg)
}

// checksumHex is h's sum as backup_manifest spells it: CRC32C as the
// four bytes of the value in the server's (little-endian) byte order.
func checksumHex(alg string, h hash.Hash) string {
	if alg == "CRC32C" {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], h.(hash.Hash32).Sum32())
		return hex.EncodeToString(b[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSum is a restored file's size and checksum.
type fileSum struct {
	size     int64
	alg, sum string
}

// outsideManifest reports files the manifest does not list by design
// (as pg_verifybackup skips them).
func outsideManifest(p string) bool {
	return p == manifestName || strings.HasPrefix(p, "pg_wal/") || p == "postgresql.auto.conf" || p == "recovery.signal" || p == "standby.signal"
}

// check compares the files found with the manifest: every listed file
// present with its size and checksum, nothing else outside pg_wal, and
// the WAL segments the backup needs present. After the restore,
// postgresql.auto.conf holds the recovery settings: restored says so and
// it is not compared (pg_verifybackup skips it too).
func (m *backupManifest) check(got map[string]fileSum, restored bool) error {
	var bad []string
	walSegment := segmentSize(got)
	listed := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		listed[f.Path] = true
		g, ok := got[f.Path]
		switch {
		case restored && f.Path == "postgresql.auto.conf":
		case !ok:
			bad = append(bad, f.Path+" is missing")
		case g.size != f.Size:
			bad = append(bad, fmt.Sprintf("%s has %d bytes, the manifest says %d", f.Path, g.size, f.Size))
		case f.Algorithm != "" && f.Algorithm != "NONE" && (g.alg != f.Algorithm || g.sum != f.Checksum):
			bad = append(bad, f.Path+" checksum differs from the manifest")
		}
	}
	for p := range got {
		if !listed[p] && !outsideManifest(p) {
			bad = append(bad, p+" is not in the manifest")
		}
	}
	for _, seg := range m.walSegments(walSegment) {
		if g, ok := got["pg_wal/"+seg]; !ok || g.size != walSegment {
			bad = append(bad, "WAL segment pg_wal/"+seg+" needed for consistency is missing or short")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		if len(bad) > 5 {
			bad = append(bad[:5], fmt.Sprintf("and %d more", len(bad)-5))
		}
		return fmt.Errorf("%w: the restored files do not match the backup manifest: %s", engine.ErrCorrupt, strings.Join(bad, "; "))
	}
	return nil
}

// walSegments names the WAL segment files covering the manifest's WAL
// ranges.
func (m *backupManifest) walSegments(segSize int64) []string {
	var names []string
	for _, r := range m.WALRanges {
		start, err1 := parseLSN(r.Start)
		end, err2 := parseLSN(r.End)
		if err1 != nil || err2 != nil || segSize <= 0 {
			names = append(names, fmt.Sprintf("(unreadable WAL range %s-%s)", r.Start, r.End))
			continue
		}
		for seg := start / uint64(segSize); seg <= end/uint64(segSize); seg++ {
			per := uint64(0x100000000) / uint64(segSize)
			names = append(names, fmt.Sprintf("%08X%08X%08X", r.Timeline, seg/per, seg%per))
		}
	}
	return names
}

// parseLSN reads "X/Y".
func parseLSN(s string) (uint64, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	return uint64(hi)<<32 | uint64(lo), nil
}

// VerifyDir checks a restored data directory against its
// backup_manifest, reading every file again (as pg_verifybackup does,
// without its WAL parsing): sizes, checksums, no extra files, the WAL
// segments present. Errors wrap engine.ErrCorrupt.
func VerifyDir(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return fmt.Errorf("%w: %v", engine.ErrCorrupt, err)
	}
	m, err := parseManifest(b)
	if err != nil {
		return err
	}
	algs := make(map[string]string, len(m.Files))
	for _, f := range m.Files {
		algs[f.Path] = f.Algorithm
	}
	got := map[string]fileSum{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fs := fileSum{alg: algs[rel]}
		h, err := newChecksum(fs.alg)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var w hashWriter
		if h != nil {
			w.h = h
		}
		if _, err := f.WriteTo(&w); err != nil {
			return err
		}
		fs.size = w.n
		if h != nil {
			fs.sum = checksumHex(fs.alg, h)
		}
		got[rel] = fs
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify %s: %w", dir, err)
	}
	return m.check(got, true)
}

// walName matches WAL segment files.
var walName = regexp.MustCompile(`^pg_wal/[0-9A-F]{24}$`)

// segmentSize is the WAL segment size: the size of the WAL segment
// files present (all have it), 0 when there are none.
func segmentSize(got map[string]fileSum) int64 {
	for p, f := range got {
		if walName.MatchString(p) {
			return f.size
		}
	}
	return 0
}

// hashWriter counts bytes and hashes them when h is set.
type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	if w.h != nil {
		w.h.Write(p)
	}
	w.n += int64(len(p))
	return len(p), nil
}
