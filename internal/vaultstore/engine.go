package vaultstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/vaultstore/chunker"
)

// KeyWrapper is the part of KMS the engine uses. The caller's principal
// travels in ctx; a refused Decrypt is how a caller without permission on
// the key is kept out of a domain.
type KeyWrapper interface {
	GenerateDataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	Decrypt(ctx context.Context, keyARN string, wrapped []byte, encCtx map[string]string) ([]byte, error)
}

// Stores maps a region to its blob store (package storage implements it).
type Stores interface {
	Store(region string) (blob.Store, error)
}

// Protector says whether a vault lock or legal hold still protects a
// recovery point. The backup domain implements it; DeleteManifest refuses
// protected manifests.
type Protector interface {
	Protected(ctx context.Context, d Domain, id ManifestID) (bool, error)
}

// Domain names a dedup domain: a vault in a region and the KMS key its
// recovery points are encrypted under. Vault is an opaque name chosen by
// the caller, unique within the region (letters, digits, '.', '_', '-').
type Domain struct {
	Region string
	Vault  string
	KeyARN string
}

func (d Domain) String() string { return d.Region + "/" + d.Vault + " (" + d.KeyARN + ")" }

// ManifestID names a recovery point's manifest: 32 hex digits.
type ManifestID string

// Options tune an Engine; the zero value picks the defaults.
type Options struct {
	Logger *slog.Logger
	// PackSize is the target size of data packs (default 16 MiB).
	PackSize int
	// Concurrency is the number of hashing/compression and fetch
	// workers (default GOMAXPROCS).
	Concurrency int
	// Uploads is the number of packs uploaded at once per writer
	// (default 2). Packs are built in spool files, not in memory.
	Uploads int
	// Lease is how long a writer's lease lasts without renewal (default
	// 5 minutes; renewed every third of it).
	Lease time.Duration
	// SpoolDir holds the packs being built, as unlinked temporary files
	// (default os.TempDir()).
	SpoolDir string
	// Level is the zstd level (default zstd.SpeedFastest: compression is
	// the pipeline's bottleneck, and the default level saves only about
	// 4% more on database dumps for half the speed).
	Level zstd.EncoderLevel
	// Chunker are the chunk sizes for new domains (default 16/64/256 KiB).
	Chunker chunker.Params
	// Protector, if set, guards recovery points against deletion.
	Protector Protector
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Engine stores recovery points for every vault and region.
type Engine struct {
	db     meta.Store
	keys   KeyWrapper
	stores Stores
	o      Options
	log    *slog.Logger
	dec    *zstd.Decoder
}

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such manifest (or it is being deleted).
	ErrNotFound = errors.New("vaultstore: recovery point not found")
	// ErrLeaseExpired: a writer's lease ran out and GC may have
	// collected its chunks; the recovery point was not committed.
	ErrLeaseExpired = errors.New("vaultstore: writer lease expired; the recovery point was not committed")
	// ErrProtected: a vault lock or legal hold protects the manifest.
	ErrProtected = errors.New("vaultstore: recovery point is protected by a vault lock or legal hold")
	// ErrAborted: the writer was aborted.
	ErrAborted = errors.New("vaultstore: write aborted")
)

// KeyError reports that KMS refused or failed an operation on a domain's
// master key. Err is KMS's error.
type KeyError struct {
	Op     string // "Decrypt" or "GenerateDataKey"
	KeyARN string
	Domain Domain
	Err    error
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("KMS %s with key %s for vault %s in %s failed: %v (the caller needs kms:%s on that key)",
		e.Op, e.KeyARN, e.Domain.Vault, e.Domain.Region, e.Err, e.Op)
}

func (e *KeyError) Unwrap() error { return e.Err }

// Open returns an engine over the metadata store, KMS and the regions'
// blob stores.
func Open(db meta.Store, keys KeyWrapper, stores Stores, o Options) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.PackSize <= 0 {
		o.PackSize = 16 << 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.Uploads <= 0 {
		o.Uploads = 2
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Level == 0 {
		o.Level = zstd.SpeedFastest
	}
	if o.Chunker == (chunker.Params{}) {
		o.Chunker = chunker.DefaultParams
	}
	if err := o.Chunker.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(o.Concurrency), zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	return &Engine{db: db, keys: keys, stores: stores, o: o, log: o.Logger, dec: dec}, nil
}

func (e *Engine) now() int64 { return e.o.Now().UnixNano() }

var vaultRe = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$`)

// domainState is a domain's row.
type domainState struct {
	Domain
	id      DomainID
	wrapped []byte
	params  chunker.Params
	store   blob.Store
}

func (ds *domainState) encCtx() map[string]string {
	return map[string]string{"coffer:vault": ds.Vault, "coffer:domain": ds.id.String()}
}

func (ds *domainState) prefix() string { return ds.Vault + "/" + ds.id.String() + "/" }

func (ds *domainState) packName(pack string) string {
	return ds.prefix() + "data/" + pack[:2] + "/" + pack
}

func (ds *domainState) manifestName(id ManifestID) string {
	return ds.prefix() + "manifests/" + string(id)
}

func domainRecordName(vault string, id DomainID) string { return vault + "/domains/" + id.String() }

// domainRecord is the JSON object V/domains/D.
type domainRecord struct {
	Version           int               `json:"version"`
	Region            string            `json:"region"`
	Vault             string            `json:"vault"`
	Domain            string            `json:"domain"`
	KeyARN            string            `json:"keyArn"`
	WrappedKey        []byte            `json:"wrappedKey"`
	EncryptionContext map[string]string `json:"encryptionContext"`
	Chunker           chunker.Params    `json:"chunker"`
}

// domain finds the domain's row, creating the domain (master key, record
// object, row) when create is set.
func (e *Engine) domain(ctx context.Context, d Domain, create bool) (*domainState, error) {
	if !vaultRe.MatchString(d.Vault) {
		return nil, fmt.Errorf("vault name %q: use 1-200 letters, digits, '.', '_' or '-'", d.Vault)
	}
	if d.KeyARN == "" {
		return nil, errors.New("a KMS key ARN is required")
	}
	id := domainIDFor(d.Region, d.Vault, d.KeyARN)
	ds, err := e.domainByID(ctx, id)
	if err == nil || !errors.Is(err, ErrNotFound) || !create {
		return ds, err
	}
	store, err := e.stores.Store(d.Region)
	if err != nil {
		return nil, err
	}
	ds = &domainState{Domain: d, id: id, params: e.o.Chunker, store: store}
	rec, err := e.loadDomainRecord(ctx, store, d.Vault, id)
	if errors.Is(err, blob.ErrNotExist) {
		_, wrapped, gerr := e.keys.GenerateDataKey(ctx, d.KeyARN, ds.encCtx())
		if gerr != nil {
			return nil, &KeyError{Op: "GenerateDataKey", KeyARN: d.KeyARN, Domain: d, Err: gerr}
		}
		rec = &domainRecord{Version: FormatVersion, Region: d.Region, Vault: d.Vault, Domain: id.String(), KeyARN: d.KeyARN,
			WrappedKey: wrapped, EncryptionContext: ds.encCtx(), Chunker: e.o.Chunker}
		body, _ := json.Marshal(rec)
		err = createObject(ctx, store, domainRecordName(d.Vault, id), body)
		if errors.Is(err, blob.ErrExists) {
			// Another node created the domain first: use its key.
			rec, err = e.loadDomainRecord(ctx, store, d.Vault, id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("domain record of vault %s: %w", d.Vault, err)
	}
	ds.wrapped, ds.params = rec.WrappedKey, rec.Chunker
	if err := e.insertDomain(ctx, ds); err != nil {
		return nil, err
	}
	return e.domainByID(ctx, id)
}

func (e *Engine) insertDomain(ctx context.Context, ds *domainState) error {
	_, err := e.db.ExecContext(ctx, `INSERT INTO vs_domains (domain_id, region, vault, key_arn, wrapped_key, chunk_min, chunk_avg, chunk_max, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		ds.id.String(), ds.Region, ds.Vault, ds.KeyARN, ds.wrapped, ds.params.Min, ds.params.Avg, ds.params.Max, e.now())
	if err != nil {
		return fmt.Errorf("record domain: %w", err)
	}
	return nil
}

func (e *Engine) loadDomainRecord(ctx context.Context, store blob.Store, vault string, id DomainID) (*domainRecord, error) {
	b, err := readObject(ctx, store, domainRecordName(vault, id))
	if err != nil {
		return nil, err
	}
	var rec domainRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.Version != FormatVersion || rec.Domain != id.String() || len(rec.WrappedKey) == 0 {
		return nil, corrupt("domain record %s", domainRecordName(vault, id))
	}
	if err := rec.Chunker.Validate(); err != nil {
		return nil, corrupt("domain record %s: %v", domainRecordName(vault, id), err)
	}
	return &rec, nil
}

func (e *Engine) domainByID(ctx context.Context, id DomainID) (*domainState, error) {
	ds := &domainState{id: id}
	err := e.db.QueryRowContext(ctx, `SELECT region, vault, key_arn, wrapped_key, chunk_min, chunk_avg, chunk_max FROM vs_domains WHERE domain_id = ?`, id.String()).
		Scan(&ds.Region, &ds.Vault, &ds.KeyARN, &ds.wrapped, &ds.params.Min, &ds.params.Avg, &ds.params.Max)
	if errors.Is(err, errNoRows) {
		return nil, fmt.Errorf("%w: no domain %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read domain %s: %w", id, err)
	}
	if ds.store, err = e.stores.Store(ds.Region); err != nil {
		return nil, err
	}
	return ds, nil
}

// unwrap asks KMS, as the caller in ctx, for the domain's master key.
func (e *Engine) unwrap(ctx context.Context, ds *domainState) (*domainKeys, error) {
	master, err := e.keys.Decrypt(ctx, ds.KeyARN, ds.wrapped, ds.encCtx())
	if err != nil {
		return nil, &KeyError{Op: "Decrypt", KeyARN: ds.KeyARN, Domain: ds.Domain, Err: err}
	}
	defer clear(master)
	return deriveKeys(master)
}

func newManifestID() ManifestID {
	var b [16]byte
	rand.Read(b[:])
	return ManifestID(hex.EncodeToString(b[:]))
}

func (id ManifestID) bytes() ([]byte, error) {
	b, err := hex.DecodeString(string(id))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("%w: %q is not a manifest ID", ErrNotFound, string(id))
	}
	return b, nil
}

// ManifestInfo describes a recovery point's manifest.
type ManifestInfo struct {
	ID        ManifestID
	Domain    Domain
	Size      int64
	Chunks    int64
	SHA256    [32]byte
	Committed time.Time
}

// manifestRow loads a committed manifest's row and domain.
func (e *Engine) manifestRow(ctx context.Context, id ManifestID) (*ManifestInfo, *domainState, error) {
	if _, err := id.bytes(); err != nil {
		return nil, nil, err
	}
	var dom, state string
	var sum []byte
	var committed int64
	info := &ManifestInfo{ID: id}
	err := e.db.QueryRowContext(ctx, `SELECT domain_id, state, size, chunks, sha256, committed_at FROM vs_manifests WHERE manifest_id = ?`, string(id)).
		Scan(&dom, &state, &info.Size, &info.Chunks, &sum, &committed)
	if errors.Is(err, errNoRows) || (err == nil && state != "committed") {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read manifest %s: %w", id, err)
	}
	did, err := parseDomainID(dom)
	if err != nil {
		return nil, nil, err
	}
	ds, err := e.domainByID(ctx, did)
	if err != nil {
		return nil, nil, err
	}
	copy(info.SHA256[:], sum)
	info.Domain = ds.Domain
	info.Committed = time.Unix(0, committed)
	return info, ds, nil
}

// Stat describes a committed manifest.
func (e *Engine) Stat(ctx context.Context, id ManifestID) (*ManifestInfo, error) {
	info, _, err := e.manifestRow(ctx, id)
	return info, err
}

// loadManifest reads and decrypts a manifest object.
func (e *Engine) loadManifest(ctx context.Context, ds *domainState, k *domainKeys, id ManifestID) (*manifest, int64, error) {
	idb, err := id.bytes()
	if err != nil {
		return nil, 0, err
	}
	name := ds.manifestName(id)
	obj, err := readObject(ctx, ds.store, name)
	if err != nil {
		return nil, 0, fmt.Errorf("read manifest object %s: %w", name, err)
	}
	plain, err := openObject(k.meta, kindManifest, ds.id, idb, obj)
	if err != nil {
		return nil, 0, fmt.Errorf("manifest object %s: %w", name, err)
	}
	m, err := decodeManifest(plain)
	if err != nil {
		return nil, 0, fmt.Errorf("manifest object %s: %w", name, err)
	}
	return m, int64(len(obj)), nil
}

func readObject(ctx context.Context, s blob.Store, name string) ([]byte, error) {
	rc, err := s.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// createObject writes a new object, refusing to replace one where the
// store can (Creator).
func createObject(ctx context.Context, s blob.Store, name string, b []byte) error {
	return createFrom(ctx, s, name, newBytesReader(b), int64(len(b)))
}

// createFrom is createObject from a reader; an io.Seeker lets the retry
// wrapper retry.
func createFrom(ctx context.Context, s blob.Store, name string, r io.Reader, size int64) error {
	if c, ok := s.(blob.Creator); ok {
		return c.Create(ctx, name, r, size)
	}
	if _, err := s.Stat(ctx, name); err == nil {
		return fmt.Errorf("%s: %w", name, blob.ErrExists)
	}
	return s.Put(ctx, name, r, size)
}
