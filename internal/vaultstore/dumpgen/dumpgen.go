// Package dumpgen generates a deterministic, pg_dump-style plain-format
// SQL stream (COPY ... FROM stdin rows) for benchmarks and tests, in
// successive versions: version 2 changes 2% of the rows in clusters (runs
// of consecutive rows, as a batch update does), version 3 additionally
// changes 2% of the rows at random.
package dumpgen

import (
	"io"
	"strconv"
)

// Versions.
const (
	Base      = 1 // the first dump
	Clustered = 2 // Base with 2% of rows changed in clusters
	Random    = 3 // Clustered with another 2% changed at random
)

const clusterRows = 512

var (
	firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "zoe"}
	lastNames  = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas"}
	statuses   = []string{"active", "pending", "suspended", "closed", "trial"}
	words      = []string{"invoice", "shipment", "delayed", "customer", "requested", "refund", "priority", "account", "updated", "address", "billing", "monthly", "renewal", "discount", "support", "ticket", "resolved", "escalated", "warehouse", "order"}
)

// Reader returns the first size bytes of version v of the stream.
func Reader(v int, size int64) io.Reader {
	return &gen{v: v, left: size}
}

type gen struct {
	v      int
	left   int64
	row    uint64
	buf    []byte
	off    int
	header bool
}

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// revision is the last version that changed row r.
func revision(v int, r uint64) uint64 {
	rev := uint64(1)
	if v >= Clustered && mix(r/clusterRows^0xc1)%50 == 0 {
		rev = 2
	}
	if v >= Random && mix(r^0xa7)%50 == 0 {
		rev = 3
	}
	return rev
}

const rowsPerTable = 200000

func (g *gen) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.left > 0 {
		if g.off == len(g.buf) {
			g.fill()
		}
		c := copy(p[n:], g.buf[g.off:])
		if int64(c) > g.left {
			c = int(g.left)
		}
		g.off += c
		n += c
		g.left -= int64(c)
	}
	return n, nil
}

// fill renders the next batch of rows.
func (g *gen) fill() {
	b := g.buf[:0]
	if !g.header {
		g.header = true
		b = append(b, "--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n\n"...)
	}
	for i := 0; i < 256; i++ {
		r := g.row
		if r%rowsPerTable == 0 {
			if r > 0 {
				b = append(b, "\\.\n\n"...)
			}
			b = append(b, "COPY public.accounts_"...)
			b = strconv.AppendUint(b, r/rowsPerTable, 10)
			b = append(b, " (id, uuid, first_name, last_name, email, status, balance, created_at, updated_at, note) FROM stdin;\n"...)
		}
		b = appendRow(b, r, revision(g.v, r))
		g.row++
	}
	g.buf, g.off = b, 0
}

func appendRow(b []byte, r, rev uint64) []byte {
	s := mix(r)
	c := mix(r ^ rev<<56)
	b = strconv.AppendUint(b, r+1, 10)
	b = append(b, '\t')
	const hexd = "0123456789abcdef"
	u := s
	for i := 0; i < 16; i++ {
		b = append(b, hexd[u&15])
		u >>= 4
		if i == 7 {
			b = append(b, '-')
		}
	}
	b = append(b, '\t')
	fn, ln := firstNames[s%uint64(len(firstNames))], lastNames[(s>>8)%uint64(len(lastNames))]
	b = append(b, fn...)
	b = append(b, '\t')
	b = append(b, ln...)
	b = append(b, '\t')
	b = append(b, fn...)
	b = append(b, '.')
	b = append(b, ln...)
	b = strconv.AppendUint(b, (s>>16)%1000, 10)
	b = append(b, "@example.com\t"...)
	b = append(b, statuses[(c>>3)%uint64(len(statuses))]...)
	b = append(b, '\t')
	b = strconv.AppendUint(b, (c>>8)%100000, 10)
	b = append(b, '.')
	cents := (c >> 24) % 100
	b = append(b, byte('0'+cents/10), byte('0'+cents%10))
	b = append(b, "\t2024-"...)
	b = appendDate(b, s>>32)
	b = append(b, "\t2025-"...)
	b = appendDate(b, c>>32)
	b = append(b, '\t')
	nw := 3 + (c>>40)%12
	for i := uint64(0); i < nw; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[mix(c+i)%uint64(len(words))]...)
	}
	return append(b, '\n')
}

func appendDate(b []byte, x uint64) []byte {
	mo, d, h, mi, se := 1+x%12, 1+(x>>4)%28, (x>>9)%24, (x>>14)%60, (x>>20)%60
	for i, v := range []uint64{mo, d, h, mi, se} {
		if i == 1 {
			b = append(b, '-')
		} else if i == 2 {
			b = append(b, ' ')
		} else if i > 2 {
			b = append(b, ':')
		}
		b = append(b, byte('0'+v/10), byte('0'+v%10))
	}
	return append(b, "+00"...)
}
