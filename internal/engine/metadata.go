package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"sort"
	"strings"
	"time"
)

// FormatVersion is the version of Metadata this build writes. Restore and
// Verify refuse metadata with a higher version (ErrFormat).
const FormatVersion = 1

// Metadata describes one snapshot. It is stored as JSON with the recovery
// point and handed back to Restore and Verify.
type Metadata struct {
	FormatVersion int    `json:"formatVersion"`
	Engine        string `json:"engine"`        // "postgres", "sqlite"
	EngineVersion string `json:"engineVersion"` // server or library version, e.g. "15.18", "3.49.1"
	// DumpFormat names the stream's format: "pg_dump-custom" (pg_dump
	// -Fc) or "sqlite3-database" (a complete SQLite database file).
	DumpFormat  string `json:"dumpFormat"`
	ToolVersion string `json:"toolVersion,omitempty"` // e.g. "pg_dump (PostgreSQL) 15.18"
	// LogicalSize is the database's size in bytes at the snapshot
	// (PostgreSQL: pg_database_size; SQLite: page_count * page_size).
	LogicalSize int64 `json:"logicalSize"`
	// StreamSize and StreamSHA256 describe the bytes written by Snapshot;
	// Restore checks the bytes it reads against them.
	StreamSize   int64  `json:"streamSize"`
	StreamSHA256 string `json:"streamSha256"`
	// ChecksumAlgorithm names how Tables' checksums are computed (see
	// the engine packages' documentation); Verify recomputes them the
	// same way.
	ChecksumAlgorithm string    `json:"checksumAlgorithm"`
	Tables            []Table   `json:"tables"`
	StartedAt         time.Time `json:"startedAt"`
	CompletedAt       time.Time `json:"completedAt"`
	// Physical describes a physical base backup (package
	// engine/pgphysical); nil for logical dumps.
	Physical *Physical `json:"physical,omitempty"`
}

// Physical is where a physical base backup sits in its server's WAL.
type Physical struct {
	SystemIdentifier string `json:"systemIdentifier"` // pg_control's, decimal
	Timeline         int32  `json:"timeline"`
	StartLSN         string `json:"startLsn"` // e.g. "0/2000028"
	// EndLSN is the backup's consistent point: recovery must replay to it.
	EndLSN string `json:"endLsn"`
	Files  int64  `json:"files"` // files in the backup, WAL and backup_manifest included
	// ManifestChecksums is the backup_manifest's checksum algorithm.
	ManifestChecksums string `json:"manifestChecksums"`
}

// Table is one table's row count and content checksum.
type Table struct {
	Name     string `json:"name"` // PostgreSQL: schema.table (quoted where needed); SQLite: table
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// Rows is the total row count over all tables.
func (m *Metadata) Rows() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// Check reports whether an engine named engine can use m.
func (m *Metadata) Check(engine, dumpFormat string) error {
	switch {
	case m == nil:
		return fmt.Errorf("%w: no snapshot metadata", ErrFormat)
	case m.FormatVersion < 1 || m.FormatVersion > FormatVersion:
		return fmt.Errorf("%w: metadata format version %d (this coffer reads 1 to %d); upgrade coffer", ErrFormat, m.FormatVersion, FormatVersion)
	case m.Engine != engine:
		return fmt.Errorf("%w: snapshot of a %s database cannot be restored by the %s engine", ErrFormat, m.Engine, engine)
	case m.DumpFormat != dumpFormat:
		return fmt.Errorf("%w: dump format %q, the %s engine reads %q", ErrFormat, m.DumpFormat, engine, dumpFormat)
	}
	return nil
}

// MarshalJSON sorts tables by name so equal metadata encodes equally.
func (m *Metadata) MarshalJSON() ([]byte, error) {
	type plain Metadata
	c := *m
	c.Tables = append([]Table(nil), m.Tables...)
	sort.Slice(c.Tables, func(i, j int) bool { return c.Tables[i].Name < c.Tables[j].Name })
	return json.Marshal((*plain)(&c))
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Tables     int        `json:"tables"` // tables compared
	Rows       int64      `json:"rows"`   // rows counted in the verified database
	Mismatches []Mismatch `json:"mismatches,omitempty"`
}

// OK reports whether every table matched.
func (r *VerifyResult) OK() bool { return len(r.Mismatches) == 0 }

// Mismatch is one table that differs.
type Mismatch struct {
	Table  string `json:"table"`
	Reason string `json:"reason"` // "missing", "unexpected", "rows", "checksum"
	Want   *Table `json:"want,omitempty"`
	Got    *Table `json:"got,omitempty"`
}

func (m Mismatch) String() string {
	switch m.Reason {
	case "missing":
		return fmt.Sprintf("table %s is missing", m.Table)
	case "unexpected":
		return fmt.Sprintf("table %s is not in the snapshot", m.Table)
	case "rows":
		return fmt.Sprintf("table %s has %d rows, snapshot had %d", m.Table, m.Got.Rows, m.Want.Rows)
	default:
		return fmt.Sprintf("table %s content checksum differs from the snapshot", m.Table)
	}
}

// Compare compares the tables computed from a database (got) with the
// recorded ones and returns the result, with an error wrapping ErrMismatch
// naming the tables that differ.
func Compare(want []Table, got []Table) (*VerifyResult, error) {
	res := &VerifyResult{Tables: len(got)}
	gotBy := make(map[string]Table, len(got))
	for _, t := range got {
		gotBy[t.Name] = t
		res.Rows += t.Rows
	}
	wantBy := make(map[string]bool, len(want))
	for _, w := range want {
		w := w
		wantBy[w.Name] = true
		g, ok := gotBy[w.Name]
		switch {
		case !ok:
			res.Mismatches = append(res.Mismatches, Mismatch{Table: w.Name, Reason: "missing", Want: &w})
		case g.Rows != w.Rows:
			res.Mismatches = append(res.Mismatches, Mismatch{Table: w.Name, Reason: "rows", Want: &w, Got: &g})
		case g.Checksum != w.Checksum:
			res.Mismatches = append(res.Mismatches, Mismatch{Table: w.Name, Reason: "checksum", Want: &w, Got: &g})
		}
	}
	for _, g := range got {
		g := g
		if !wantBy[g.Name] {
			res.Mismatches = append(res.Mismatches, Mismatch{Table: g.Name, Reason: "unexpected", Got: &g})
		}
	}
	if res.OK() {
		return res, nil
	}
	sort.Slice(res.Mismatches, func(i, j int) bool { return res.Mismatches[i].Table < res.Mismatches[j].Table })
	msgs := make([]string, len(res.Mismatches))
	for i, m := range res.Mismatches {
		msgs[i] = m.String()
	}
	return res, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(msgs, "; "))
}

// Digest counts and hashes the bytes written through it: engines wrap the
// snapshot writer (or restore reader) in one to fill StreamSize and
// StreamSHA256.
type Digest struct {
	h hash.Hash
	n int64
}

// NewDigest returns an empty digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

func (d *Digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

// Size is the number of bytes written.
func (d *Digest) Size() int64 { return d.n }

// Sum is the hex SHA-256 of the bytes written.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// Check compares the digest with what md recorded.
func (d *Digest) Check(md *Metadata) error {
	if md.StreamSHA256 == "" {
		return nil
	}
	if d.n != md.StreamSize || d.Sum() != md.StreamSHA256 {
		return fmt.Errorf("%w: read %d bytes with SHA-256 %s, the snapshot wrote %d bytes with SHA-256 %s; the stored copy is damaged", ErrCorrupt, d.n, d.Sum(), md.StreamSize, md.StreamSHA256)
	}
	return nil
}
