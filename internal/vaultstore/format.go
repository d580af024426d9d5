package vaultstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"

	"github.com/zeebo/blake3"
)

// FormatVersion is the version byte in every object and every AAD.
const FormatVersion = 1

// Object kinds, bound into the AAD of everything sealed.
const (
	kindChunk    = 1
	kindTrailer  = 2
	kindManifest = 3
	kindIndex    = 4
)

// Entry flags.
const (
	flagRaw  = 0 // payload is the plaintext
	flagZstd = 1 // payload is one zstd frame
)

const (
	packMagic      = "CFPK"
	footerMagic    = "CFPT"
	manifestMagic  = "CFMF"
	indexMagic     = "CFIX"
	packHeaderSize = 40
	footerSize     = 8
	objHeaderSize  = 52 // magic, version, kind, reserved, salt, nonce
	nonceSize      = 12
	tagSize        = 16
	saltSize       = 32
	// maxTrailer bounds a trailer so a corrupt footer cannot make a
	// reader allocate without limit.
	maxTrailer = 16 << 20
	// maxObject bounds a manifest or index object's plaintext.
	maxObject = 1 << 30
)

// ChunkID is the keyed BLAKE3-256 of a chunk's plaintext.
type ChunkID [32]byte

func (c ChunkID) String() string { return hex.EncodeToString(c[:]) }

// DomainID names a dedup domain: SHA-256("coffer domain v1" 0x00 region
// 0x00 vault 0x00 key ARN), first 16 bytes.
type DomainID [16]byte

func (d DomainID) String() string { return hex.EncodeToString(d[:]) }

func domainIDFor(region, vault, keyARN string) DomainID {
	h := sha256.New()
	h.Write([]byte("coffer domain v1\x00"))
	h.Write([]byte(region))
	h.Write([]byte{0})
	h.Write([]byte(vault))
	h.Write([]byte{0})
	h.Write([]byte(keyARN))
	var d DomainID
	copy(d[:], h.Sum(nil))
	return d
}

func parseDomainID(s string) (DomainID, error) {
	var d DomainID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("invalid domain id %q", s)
	}
	copy(d[:], b)
	return d, nil
}

// ErrCorrupt is wrapped by every error about stored bytes that fail to
// decode or authenticate.
var ErrCorrupt = errors.New("corrupt object")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// domainKeys are the subkeys of a domain master key.
type domainKeys struct {
	enc     []byte // packs
	id      []byte // chunk IDs
	chunker []byte // gear table
	meta    []byte // manifests and index objects
}

func deriveKeys(master []byte) (*domainKeys, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("domain master key is %d bytes, want 32", len(master))
	}
	k := &domainKeys{}
	for _, s := range []struct {
		dst  *[]byte
		info string
	}{{&k.enc, "coffer v1 encryption"}, {&k.id, "coffer v1 chunk id"}, {&k.chunker, "coffer v1 chunker"}, {&k.meta, "coffer v1 metadata"}} {
		b, err := hkdf.Key(sha256.New, master, nil, s.info, 32)
		if err != nil {
			return nil, err
		}
		*s.dst = b
	}
	return k, nil
}

// chunkID computes the keyed hash of a chunk's plaintext.
func chunkID(key, plain []byte) ChunkID {
	h, _ := blake3.NewKeyed(key)
	h.Write(plain)
	var id ChunkID
	h.Sum(id[:0])
	return id
}

func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // 32-byte keys only
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

func subkey(key, salt []byte, info string) cipher.AEAD {
	k, err := hkdf.Key(sha256.New, key, salt, info, 32)
	if err != nil {
		panic(err)
	}
	return gcm(k)
}

// aad is "coffer" | version | kind | domain | extra.
func aad(dst []byte, kind byte, d DomainID, extra ...[]byte) []byte {
	dst = append(dst[:0], "coffer"...)
	dst = append(dst, FormatVersion, kind)
	dst = append(dst, d[:]...)
	for _, e := range extra {
		dst = append(dst, e...)
	}
	return dst
}

func chunkAAD(dst []byte, d DomainID, id ChunkID, flags byte, rawLen int) []byte {
	var tail [5]byte
	tail[0] = flags
	binary.LittleEndian.PutUint32(tail[1:], uint32(rawLen))
	return aad(dst, kindChunk, d, id[:], tail[:])
}

// Entry locates one sealed chunk in a pack.
type Entry struct {
	ID     ChunkID
	Offset int64 // of the nonce, from the start of the pack
	Length int64 // nonce + ciphertext + tag
	RawLen int64 // plaintext length
	Flags  byte
}

// packBuilder assembles one pack, in memory or in a spool file.
type packBuilder struct {
	domain  DomainID
	salt    [saltSize]byte
	aead    cipher.AEAD
	buf     []byte   // the pack (memory mode)
	spool   *os.File // the pack (spool mode), written from offset 0
	h       hash.Hash
	n       int
	piece   []byte
	entries []Entry
	ad      []byte
	err     error
}

// newPackBuilder starts a pack in buf (reused from its start).
func newPackBuilder(encKey []byte, d DomainID, buf []byte) *packBuilder {
	p := &packBuilder{domain: d, buf: buf[:0]}
	p.start(encKey)
	return p
}

// newSpoolBuilder starts a pack in a spool file (truncated first), so a
// writer holds no pack in memory.
func newSpoolBuilder(encKey []byte, d DomainID, f *os.File) *packBuilder {
	p := &packBuilder{domain: d, spool: f, h: sha256.New()}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		p.err = err
	} else if err := f.Truncate(0); err != nil {
		p.err = err
	}
	p.start(encKey)
	return p
}

func (p *packBuilder) start(encKey []byte) {
	readRand(p.salt[:])
	p.aead = subkey(encKey, p.salt[:], "coffer v1 pack")
	head := append([]byte(packMagic), FormatVersion, 1, 0, 0)
	p.emit(append(head, p.salt[:]...))
}

// emit appends b to the pack.
func (p *packBuilder) emit(b []byte) {
	p.n += len(b)
	if p.spool == nil {
		p.buf = append(p.buf, b...)
		return
	}
	if p.err == nil {
		_, p.err = p.spool.Write(b)
	}
	p.h.Write(b)
}

func (p *packBuilder) size() int { return p.n }

// add seals payload (flags says how it encodes rawLen plaintext bytes).
func (p *packBuilder) add(id ChunkID, flags byte, rawLen int, payload []byte) Entry {
	off := p.n
	var nonce [nonceSize]byte
	readRand(nonce[:])
	p.ad = chunkAAD(p.ad, p.domain, id, flags, rawLen)
	if p.spool == nil {
		p.buf = append(p.buf, nonce[:]...)
		p.buf = p.aead.Seal(p.buf, nonce[:], payload, p.ad)
		p.n = len(p.buf)
	} else {
		p.piece = append(p.piece[:0], nonce[:]...)
		p.piece = p.aead.Seal(p.piece, nonce[:], payload, p.ad)
		p.emit(p.piece)
	}
	e := Entry{ID: id, Offset: int64(off), Length: int64(p.n - off), RawLen: int64(rawLen), Flags: flags}
	p.entries = append(p.entries, e)
	return e
}

// finish appends the sealed trailer and footer and returns the pack's
// name (hex SHA-256 of its bytes) and, in memory mode, the pack.
func (p *packBuilder) finish() ([]byte, string, error) {
	plain := encodeEntries(nil, p.entries)
	var nonce [nonceSize]byte
	readRand(nonce[:])
	t := append([]byte(nil), nonce[:]...)
	t = p.aead.Seal(t, nonce[:], plain, aad(nil, kindTrailer, p.domain, p.salt[:]))
	t = binary.LittleEndian.AppendUint32(t, uint32(len(t)))
	p.emit(append(t, footerMagic...))
	if p.spool != nil {
		if p.err != nil {
			return nil, "", fmt.Errorf("spool pack: %w", p.err)
		}
		return nil, hex.EncodeToString(p.h.Sum(nil)), nil
	}
	sum := sha256.Sum256(p.buf)
	return p.buf, hex.EncodeToString(sum[:]), nil
}

func encodeEntries(dst []byte, es []Entry) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	for _, e := range es {
		dst = append(dst, e.ID[:]...)
		dst = binary.AppendUvarint(dst, uint64(e.Offset))
		dst = binary.AppendUvarint(dst, uint64(e.Length))
		dst = binary.AppendUvarint(dst, uint64(e.RawLen))
		dst = append(dst, e.Flags)
	}
	return dst
}

// decoder reads the varint encodings; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	// Only the shortest encoding is accepted, so an object has one
	// encoding and a decoded trailer re-encodes to the same bytes.
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) || v > 1<<62 {
		d.err = corrupt("bad %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = corrupt("truncated %s", what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// count reads an element count and checks that many elements of at least
// minSize bytes can follow.
func (d *decoder) count(minSize int, what string) int {
	n := d.uvarint(what + " count")
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = corrupt("%s count %d exceeds the data", what, n)
		return 0
	}
	return int(n)
}

// decodeEntries reads an entry list and checks each entry lies within
// [packHeaderSize, limit), in order, without overlap.
func decodeEntries(d *decoder, limit int64) []Entry {
	n := d.count(32+4, "entry")
	es := make([]Entry, 0, n)
	next := int64(packHeaderSize)
	for i := 0; i < n && d.err == nil; i++ {
		var e Entry
		copy(e.ID[:], d.bytes(32, "chunk id"))
		e.Offset = int64(d.uvarint("offset"))
		e.Length = int64(d.uvarint("length"))
		e.RawLen = int64(d.uvarint("raw length"))
		fl := d.bytes(1, "flags")
		if d.err != nil {
			break
		}
		e.Flags = fl[0]
		switch {
		case e.Flags != flagRaw && e.Flags != flagZstd:
			d.err = corrupt("entry %d: unknown flags %d", i, e.Flags)
		case e.Offset < next || e.Length < nonceSize+tagSize || e.Length > maxTrailer || e.Offset+e.Length > limit:
			d.err = corrupt("entry %d: range %d+%d out of place", i, e.Offset, e.Length)
		case e.RawLen < 0 || e.RawLen > 16<<20 || (e.Flags == flagRaw && e.RawLen != e.Length-nonceSize-tagSize):
			d.err = corrupt("entry %d: bad raw length %d", i, e.RawLen)
		}
		next = e.Offset + e.Length
		es = append(es, e)
	}
	return es
}

// decodeTrailer parses a trailer's plaintext for a pack of packSize bytes.
func decodeTrailer(plain []byte, packSize int64) ([]Entry, error) {
	d := &decoder{b: plain}
	es := decodeEntries(d, packSize-footerSize)
	if d.err == nil && len(d.b) != 0 {
		d.err = corrupt("%d trailing bytes after the trailer", len(d.b))
	}
	return es, d.err
}

// packHeader checks a pack's first 40 bytes and returns its salt.
func packHeader(h []byte) ([]byte, error) {
	if len(h) < packHeaderSize || string(h[:4]) != packMagic {
		return nil, corrupt("not a pack (bad magic)")
	}
	if h[4] != FormatVersion || h[5] != 1 || h[6] != 0 || h[7] != 0 {
		return nil, corrupt("pack version %d kind %d not supported", h[4], h[5])
	}
	return h[8:packHeaderSize], nil
}

// packFooter returns the length of the sealed trailer from a pack's last
// 8 bytes.
func packFooter(f []byte, packSize int64) (int64, error) {
	if len(f) != footerSize || string(f[4:]) != footerMagic {
		return 0, corrupt("bad pack footer")
	}
	n := int64(binary.LittleEndian.Uint32(f))
	if n < nonceSize+tagSize || n > maxTrailer || n > packSize-packHeaderSize-footerSize {
		return 0, corrupt("pack trailer length %d out of range", n)
	}
	return n, nil
}

// openTrailer decrypts a sealed trailer.
func openTrailer(encKey []byte, d DomainID, salt, sealed []byte, packSize int64) ([]Entry, cipher.AEAD, error) {
	a := subkey(encKey, salt, "coffer v1 pack")
	if len(sealed) < nonceSize+tagSize {
		return nil, nil, corrupt("short trailer")
	}
	plain, err := a.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad(nil, kindTrailer, d, salt))
	if err != nil {
		return nil, nil, corrupt("pack trailer does not authenticate")
	}
	es, err := decodeTrailer(plain, packSize)
	return es, a, err
}

// parsePack decodes a whole pack held in memory.
func parsePack(encKey []byte, d DomainID, pack []byte) ([]Entry, cipher.AEAD, error) {
	salt, err := packHeader(pack)
	if err != nil {
		return nil, nil, err
	}
	size := int64(len(pack))
	if size < packHeaderSize+footerSize {
		return nil, nil, corrupt("pack of %d bytes is too short", size)
	}
	n, err := packFooter(pack[size-footerSize:], size)
	if err != nil {
		return nil, nil, err
	}
	start := size - footerSize - n
	es, a, err := openTrailer(encKey, d, salt, pack[start:size-footerSize], size)
	if err != nil {
		return nil, nil, err
	}
	if len(es) > 0 && es[len(es)-1].Offset+es[len(es)-1].Length > start {
		return nil, nil, corrupt("pack entries overlap the trailer")
	}
	return es, a, nil
}

// openChunk authenticates one sealed entry and returns its payload,
// decrypted in place: sealed is overwritten.
func openChunk(a cipher.AEAD, d DomainID, e Entry, sealed []byte) ([]byte, error) {
	if int64(len(sealed)) != e.Length || len(sealed) < nonceSize+tagSize {
		return nil, corrupt("chunk %s: sealed length %d, want %d", e.ID, len(sealed), e.Length)
	}
	ct := sealed[nonceSize:]
	out, err := a.Open(ct[:0], sealed[:nonceSize], ct, chunkAAD(nil, d, e.ID, e.Flags, int(e.RawLen)))
	if err != nil {
		return nil, corrupt("chunk %s does not authenticate", e.ID)
	}
	return out, nil
}

// sealObject encrypts a manifest or index object.
func sealObject(metaKey []byte, kind byte, d DomainID, extra, plain []byte) []byte {
	magic := manifestMagic
	if kind == kindIndex {
		magic = indexMagic
	}
	out := make([]byte, 0, objHeaderSize+len(plain)+tagSize)
	out = append(out, magic...)
	out = append(out, FormatVersion, kind, 0, 0)
	var salt [saltSize]byte
	readRand(salt[:])
	out = append(out, salt[:]...)
	var nonce [nonceSize]byte
	readRand(nonce[:])
	out = append(out, nonce[:]...)
	a := subkey(metaKey, salt[:], "coffer v1 object")
	return a.Seal(out, nonce[:], plain, aad(nil, kind, d, extra))
}

func openObject(metaKey []byte, kind byte, d DomainID, extra, obj []byte) ([]byte, error) {
	magic := manifestMagic
	if kind == kindIndex {
		magic = indexMagic
	}
	if len(obj) < objHeaderSize+tagSize || string(obj[:4]) != magic {
		return nil, corrupt("bad %s object header", kindName(kind))
	}
	if obj[4] != FormatVersion || obj[5] != kind || obj[6] != 0 || obj[7] != 0 {
		return nil, corrupt("%s object version %d kind %d not supported", kindName(kind), obj[4], obj[5])
	}
	a := subkey(metaKey, obj[8:40], "coffer v1 object")
	plain, err := a.Open(nil, obj[40:52], obj[52:], aad(nil, kind, d, extra))
	if err != nil {
		return nil, corrupt("%s object does not authenticate", kindName(kind))
	}
	return plain, nil
}

func kindName(k byte) string {
	switch k {
	case kindManifest:
		return "manifest"
	case kindIndex:
		return "index"
	}
	return "object"
}

// ManifestEntry is one chunk of a recovery point's stream.
type ManifestEntry struct {
	ID     ChunkID
	Length int64
}

// manifest is a recovery point's decoded content.
type manifest struct {
	Size    int64
	SHA256  [32]byte
	Created int64 // Unix nanoseconds
	Meta    map[string]string
	Chunks  []ManifestEntry
}

func encodeManifest(m *manifest) []byte {
	b := make([]byte, 0, 64+len(m.Chunks)*36)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Size))
	b = append(b, m.SHA256[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(m.Created))
	keys := make([]string, 0, len(m.Meta))
	for k := range m.Meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m.Meta[k])))
		b = append(b, m.Meta[k]...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Chunks)))
	for _, c := range m.Chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Length))
	}
	return b
}

func decodeManifest(plain []byte) (*manifest, error) {
	d := &decoder{b: plain}
	m := &manifest{}
	head := d.bytes(48, "manifest header")
	if d.err != nil {
		return nil, d.err
	}
	m.Size = int64(binary.LittleEndian.Uint64(head))
	copy(m.SHA256[:], head[8:40])
	m.Created = int64(binary.LittleEndian.Uint64(head[40:]))
	if m.Size < 0 {
		return nil, corrupt("negative manifest size")
	}
	nm := d.count(2, "metadata")
	if nm > 0 {
		m.Meta = make(map[string]string, nm)
	}
	prev := ""
	for i := 0; i < nm && d.err == nil; i++ {
		k := string(d.bytes(int(min(d.uvarint("key length"), 1<<20)), "key"))
		v := string(d.bytes(int(min(d.uvarint("value length"), 1<<20)), "value"))
		if d.err == nil && i > 0 && k <= prev {
			d.err = corrupt("metadata keys out of order")
		}
		prev = k
		m.Meta[k] = v
	}
	n := d.count(33, "chunk")
	m.Chunks = make([]ManifestEntry, 0, n)
	var total int64
	for i := 0; i < n && d.err == nil; i++ {
		var c ManifestEntry
		copy(c.ID[:], d.bytes(32, "chunk id"))
		c.Length = int64(d.uvarint("chunk length"))
		if d.err == nil && (c.Length <= 0 || c.Length > 16<<20) {
			d.err = corrupt("chunk %d has length %d", i, c.Length)
		}
		total += c.Length
		m.Chunks = append(m.Chunks, c)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, corrupt("%d trailing bytes after the manifest", len(d.b))
	}
	if total != m.Size {
		return nil, corrupt("manifest chunks add up to %d bytes, header says %d", total, m.Size)
	}
	return m, nil
}

// indexPack is one pack's entries in an index object.
type indexPack struct {
	Name    string // hex SHA-256
	Size    int64
	Entries []Entry
}

func encodeIndex(packs []indexPack) []byte {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		h, _ := hex.DecodeString(p.Name)
		b = append(b, h...)
		b = binary.AppendUvarint(b, uint64(p.Size))
		b = encodeEntries(b, p.Entries)
	}
	return b
}

func decodeIndex(plain []byte) ([]indexPack, error) {
	d := &decoder{b: plain}
	n := d.count(34, "pack")
	ps := make([]indexPack, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var p indexPack
		p.Name = hex.EncodeToString(d.bytes(32, "pack name"))
		p.Size = int64(d.uvarint("pack size"))
		if d.err == nil && (p.Size < packHeaderSize+footerSize || p.Size > 1<<32) {
			d.err = corrupt("pack %d size %d out of range", i, p.Size)
		}
		p.Entries = decodeEntries(d, p.Size-footerSize)
		ps = append(ps, p)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = corrupt("%d trailing bytes after the index", len(d.b))
	}
	return ps, d.err
}

// randReader supplies salts and nonces; tests swap in a fixed stream to
// pin golden vectors.
var randReader io.Reader = rand.Reader

func readRand(b []byte) {
	if _, err := io.ReadFull(randReader, b); err != nil {
		panic(fmt.Sprintf("vaultstore: random source failed: %v", err))
	}
}
