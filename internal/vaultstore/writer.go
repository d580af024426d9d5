package vaultstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/coffer-dev/coffer/internal/blob"
	"github.com/coffer-dev/coffer/internal/meta"
	"github.com/coffer-dev/coffer/internal/vaultstore/chunker"
)

// Stats count what an operation did.
type Stats struct {
	// BytesIn is the stream's length.
	BytesIn int64
	// Chunks in the stream; ChunksNew were stored, ChunksReused were
	// already in the domain or earlier in the stream.
	Chunks, ChunksNew, ChunksReused int64
	// BytesRead from storage (reads and copies).
	BytesRead int64
	// BytesWritten to storage: packs, manifest and index objects.
	BytesWritten int64
	// Packs uploaded.
	Packs int64
}

type counters struct {
	bytesIn, chunks, chunksNew, chunksReused, bytesRead, bytesWritten, packs atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{BytesIn: c.bytesIn.Load(), Chunks: c.chunks.Load(), ChunksNew: c.chunksNew.Load(), ChunksReused: c.chunksReused.Load(),
		BytesRead: c.bytesRead.Load(), BytesWritten: c.bytesWritten.Load(), Packs: c.packs.Load()}
}

// item is one chunk moving through the writer's pipeline.
type item struct {
	seq     int64
	nseq    int64  // order among the chunks to store, set by the dedup stage
	data    []byte // plaintext
	buf     *[]byte
	id      ChunkID
	payload []byte // encoded payload once known
	pbuf    *[]byte
	flags   byte
	pre     bool // payload given by the source (copy)
	tok     int  // tokens held
}

// Writer stores one stream as a recovery point. Write the stream, then
// Commit; or Abort. The data flows through a pipeline (chunking, hashing,
// dedup lookup, compression on all cores, sealing, pack upload) whose
// memory is bounded by Options, not by the stream's length; the manifest's
// chunk list (36 bytes per chunk) is the only part that grows with it.
type Writer struct {
	e    *Engine
	ds   *domainState
	k    *domainKeys
	id   ManifestID
	meta map[string]string
	// level is the zstd level of the chunks (default the engine's).
	level zstd.EncoderLevel

	ctx       context.Context
	cancel    context.CancelFunc // also detaches from the caller's context
	cancelCtx context.CancelFunc
	pr        *io.PipeReader
	pw        *io.PipeWriter
	done      chan struct{}
	hbStop    chan struct{}

	mu       sync.Mutex
	err      error
	finished bool
	packs    []indexPack

	tokens  chan struct{}
	spools  chan *os.File // free spool files: Uploads+1 at most
	pendMu  sync.Mutex
	pending map[ChunkID]bool

	entries []ManifestEntry
	sum     [32]byte
	size    int64
	c       counters

	// h hashes the stream as Write takes it (NewWriter only), so that
	// its SHA-256 is known when the last Write returns (StreamDigest).
	h hash.Hash

	// Sections (see Boundary): written counts the bytes Write took, on
	// the caller's side; marks are the boundaries not yet reached by the
	// chunking stage.
	written int64
	marksMu sync.Mutex
	marks   []mark
}

// Chunk buffers come from pools by size class (multiples of 32 KiB up
// to the largest chunk), so an average chunk does not pin a buffer sized
// for the largest.
const bufClass = 32 << 10

var bufPools [16<<20/bufClass + 1]sync.Pool

func getBuf(n int) *[]byte {
	c := (n + bufClass - 1) / bufClass
	if c >= len(bufPools) {
		b := make([]byte, 0, n)
		return &b
	}
	if b, ok := bufPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, c*bufClass)
	return &b
}

func putBuf(b *[]byte) {
	c := cap(*b) / bufClass
	if cap(*b)%bufClass == 0 && c < len(bufPools) {
		bufPools[c].Put(b)
	}
}

// NewWriter starts a recovery point in domain d (creating the domain on
// first use, which needs kms:GenerateDataKey; every write needs
// kms:Decrypt). meta is stored encrypted in the manifest.
func (e *Engine) NewWriter(ctx context.Context, d Domain, meta map[string]string) (*Writer, error) {
	return e.NewWriterLevel(ctx, d, meta, e.o.Level)
}

// NewWriterLevel is NewWriter compressing at level instead of the
// engine's Options.Level: for data small per write and kept long, such
// as WAL, where the smaller size is worth the CPU.
func (e *Engine) NewWriterLevel(ctx context.Context, d Domain, meta map[string]string, level zstd.EncoderLevel) (*Writer, error) {
	ds, err := e.domain(ctx, d, true)
	if err != nil {
		return nil, err
	}
	k, err := e.unwrap(ctx, ds)
	if err != nil {
		return nil, err
	}
	w, err := e.startWriter(ctx, ds, k, meta)
	if err != nil {
		return nil, err
	}
	w.level = level
	w.pr, w.pw = io.Pipe()
	w.h = sha256.New()
	w.start(func(w *Writer, out chan<- *item) error { return w.chunkStream(w.pr, out) })
	return w, nil
}

// ID is the manifest ID the recovery point will have.
func (w *Writer) ID() ManifestID { return w.id }

func (e *Engine) startWriter(ctx context.Context, ds *domainState, k *domainKeys, meta map[string]string) (*Writer, error) {
	id := newManifestID()
	now := e.now()
	o := ownerOf(ctx)
	if _, err := e.db.ExecContext(ctx, `INSERT INTO vs_manifests (manifest_id, domain_id, state, lease_expires, created_at, owner, owner_attempt) VALUES (?, ?, 'writing', ?, ?, ?, ?)`,
		string(id), ds.id.String(), now+e.o.Lease.Nanoseconds(), now, o.name, o.attempt); err != nil {
		return nil, fmt.Errorf("start recovery point: %w", err)
	}
	// The pipeline outlives the call that started it, but not a
	// cancellation of it.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &Writer{e: e, ds: ds, k: k, id: id, meta: meta, level: e.o.Level, ctx: pctx,
		done: make(chan struct{}), hbStop: make(chan struct{}),
		tokens: make(chan struct{}, (3*e.o.Concurrency+10)*(chunker.DefaultParams.Max/tokenBytes)), pending: map[ChunkID]bool{},
		spools: make(chan *os.File, e.o.Uploads+1)}
	for i := 0; i < e.o.Uploads+1; i++ {
		w.spools <- nil
	}
	stop := context.AfterFunc(ctx, func() { w.fail(context.Cause(ctx)) })
	w.cancel = func() { stop(); cancel() }
	w.cancelCtx = cancel
	return w, nil
}

// start runs the pipeline; pr, if set, is closed when it fails.
func (w *Writer) start(source func(*Writer, chan<- *item) error) {
	go w.heartbeat()
	go w.run(source)
}

func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancelCtx()
	if w.pr != nil {
		w.pr.CloseWithError(err)
	}
}

func (w *Writer) firstErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	return w.err
}

func (w *Writer) heartbeat() {
	t := time.NewTicker(w.e.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-w.hbStop:
			return
		case <-t.C:
			err := w.e.db.InTx(w.ctx, func(q meta.Querier) error { return w.e.checkLease(w.ctx, q, w.id) })
			if errors.Is(err, ErrLeaseExpired) {
				w.fail(err)
				return
			}
		}
	}
}

// run wires the stages; done closes when all have stopped.
func (w *Writer) run(source func(*Writer, chan<- *item) error) {
	defer close(w.done)
	n := w.e.o.Concurrency
	hashCh := make(chan *item, 2*n)
	dedupCh := make(chan *item, 2*n)
	compCh := make(chan *item, 2*n)
	packCh := make(chan *item, 2*n)
	upCh := make(chan *builtPack)
	var wg sync.WaitGroup
	stage := func(count int, f func() error, after func()) {
		var sw sync.WaitGroup
		for i := 0; i < count; i++ {
			sw.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sw.Done()
				if err := f(); err != nil {
					w.fail(err)
				}
			}()
		}
		wg.Add(1)
		go func() { defer wg.Done(); sw.Wait(); after() }()
	}
	stage(1, func() error { return source(w, hashCh) }, func() { close(hashCh) })
	stage(n, func() error { return w.hashStage(hashCh, dedupCh) }, func() { close(dedupCh) })
	stage(1, func() error { return w.dedupStage(dedupCh, compCh) }, func() { close(compCh) })
	stage(n, func() error { return w.compressStage(compCh, packCh) }, func() { close(packCh) })
	stage(1, func() error { return w.packStage(packCh, upCh) }, func() { close(upCh) })
	stage(w.e.o.Uploads, func() error { return w.uploadStage(upCh) }, func() {})
	wg.Wait()
}

func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// tokenBytes is the chunk bytes one token stands for: a chunk takes a
// token per started tokenBytes, so the tokens bound the bytes in flight
// (3*Concurrency+10 chunks of the default largest size; a larger chunk
// takes them all) while small chunks, such as
// database pages, still fill the pipeline.
const tokenBytes = 8 << 10

// emit passes a chunk from a source into the pipeline, waiting for its
// tokens: tokens bound the chunk bytes in flight.
func (w *Writer) emit(out chan<- *item, it *item) error {
	need := min(max(1, (len(it.data)+tokenBytes-1)/tokenBytes), cap(w.tokens))
	for it.tok < need {
		select {
		case w.tokens <- struct{}{}:
			it.tok++
		case <-w.ctx.Done():
			w.release(it)
			return w.ctx.Err()
		}
	}
	w.c.chunks.Add(1)
	w.c.bytesIn.Add(int64(len(it.data)))
	return send(w.ctx, out, it)
}

// release returns an item's buffers and its tokens.
func (w *Writer) release(it *item) {
	if it.buf != nil {
		putBuf(it.buf)
		it.buf = nil
	}
	if it.pbuf != nil {
		putBuf(it.pbuf)
		it.pbuf = nil
	}
	it.data, it.payload = nil, nil
	for ; it.tok > 0; it.tok-- {
		<-w.tokens
	}
}

func (w *Writer) hashStage(in <-chan *item, out chan<- *item) error {
	for it := range in {
		it.id = chunkID(w.k.id, it.data)
		if err := send(w.ctx, out, it); err != nil {
			return err
		}
	}
	return nil
}

// dedupStage puts chunks back in stream order, records the manifest, and
// sends on only the chunks neither in the domain nor already queued.
func (w *Writer) dedupStage(in <-chan *item, out chan<- *item) error {
	var nextNew int64
	var batch []*item
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]ChunkID, 0, len(batch))
		seen := map[ChunkID]bool{}
		for _, it := range batch {
			if !seen[it.id] {
				seen[it.id] = true
				ids = append(ids, it.id)
			}
		}
		found, err := w.e.reuse(w.ctx, w.ds, w.id, ids)
		if err != nil {
			return err
		}
		for _, it := range batch {
			w.pendMu.Lock()
			dup := w.pending[it.id]
			if !found[it.id] && !dup {
				w.pending[it.id] = true
			}
			w.pendMu.Unlock()
			if found[it.id] || dup {
				w.c.chunksReused.Add(1)
				w.release(it)
				continue
			}
			it.nseq = nextNew
			nextNew++
			if err := send(w.ctx, out, it); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	place := func(it *item) error {
		w.entries = append(w.entries, ManifestEntry{ID: it.id, Length: int64(len(it.data))})
		w.pendMu.Lock()
		dup := w.pending[it.id]
		w.pendMu.Unlock()
		if dup {
			w.c.chunksReused.Add(1)
			w.release(it)
			return nil
		}
		batch = append(batch, it)
		return nil
	}
	arrived := func() error {
		if len(batch) >= 128 {
			return flush()
		}
		// The stages before may be about to deliver more: give them a
		// moment before a small batch takes a transaction of its own.
		for i := 0; i < 4 && len(in) == 0 && len(batch) > 0; i++ {
			runtime.Gosched()
		}
		if len(in) == 0 && len(batch) > 0 {
			return flush()
		}
		return nil
	}
	if err := w.inOrder(in, func(it *item) int64 { return it.seq }, place, arrived); err != nil {
		return err
	}
	return flush()
}

// inOrder hands the items from in to each in the order key numbers them
// (0, 1, 2, ...), holding back those that overtook others in the parallel
// stage before; arrived, if set, runs after each arrival.
func (w *Writer) inOrder(in <-chan *item, key func(*item) int64, each func(*item) error, arrived func() error) error {
	hold := map[int64]*item{}
	var next int64
	for got := range in {
		hold[key(got)] = got
		for it, ok := hold[next]; ok; it, ok = hold[next] {
			delete(hold, next)
			next++
			if err := each(it); err != nil {
				return err
			}
		}
		if arrived != nil {
			if err := arrived(); err != nil {
				return err
			}
		}
	}
	if w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	if len(hold) != 0 {
		return errors.New("internal error: chunks lost in the pipeline")
	}
	return nil
}

func (w *Writer) compressStage(in <-chan *item, out chan<- *item) error {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(w.level), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false),
		// A chunk is at most 256 KiB: a larger window only costs memory.
		zstd.WithWindowSize(256<<10), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return err
	}
	defer enc.Close()
	for it := range in {
		if !it.pre {
			bp := getBuf(len(it.data))
			comp := enc.EncodeAll(it.data, (*bp)[:0])
			if len(comp) < len(it.data)-len(it.data)/20 {
				*bp = comp
				it.payload, it.pbuf, it.flags = comp, bp, flagZstd
			} else {
				putBuf(bp)
				it.payload, it.flags = it.data, flagRaw
			}
		}
		if err := send(w.ctx, out, it); err != nil {
			return err
		}
	}
	return nil
}

type builtPack struct {
	name    string
	spool   *os.File
	size    int64
	entries []Entry
}

func (w *Writer) packStage(in <-chan *item, out chan<- *builtPack) error {
	var pb *packBuilder
	defer func() {
		if pb != nil {
			w.spools <- pb.spool
		}
	}()
	flush := func() error {
		if pb == nil {
			return nil
		}
		p, err := w.built(pb)
		pb = nil
		if err != nil {
			return err
		}
		return w.sendPack(out, p)
	}
	// Chunks leave the compressors out of order; packs keep stream order
	// so that a restore reads each pack front to back.
	place := func(it *item) error { return w.pack(&pb, it, out) }
	if err := w.inOrder(in, func(it *item) int64 { return it.nseq }, place, nil); err != nil {
		return err
	}
	return flush()
}

// pack adds a chunk to the pack being built, sending it off when full.
func (w *Writer) pack(pbp **packBuilder, it *item, out chan<- *builtPack) error {
	pb := *pbp
	if pb == nil {
		var f *os.File
		select {
		case f = <-w.spools:
		case <-w.ctx.Done():
			w.release(it)
			return w.ctx.Err()
		}
		if f == nil {
			var err error
			if f, err = newSpool(w.e.o.SpoolDir); err != nil {
				w.spools <- nil
				w.release(it)
				return err
			}
		}
		pb = newSpoolBuilder(w.k.enc, w.ds.id, f)
		*pbp = pb
	}
	pb.add(it.id, it.flags, len(it.data), it.payload)
	w.release(it)
	if pb.size() < w.e.o.PackSize {
		return nil
	}
	*pbp = nil
	p, err := w.built(pb)
	if err != nil {
		return err
	}
	return w.sendPack(out, p)
}

func (w *Writer) sendPack(out chan<- *builtPack, p *builtPack) error {
	if err := send(w.ctx, out, p); err != nil {
		w.spools <- p.spool
		return err
	}
	return nil
}

// built finishes a pack.
func (w *Writer) built(pb *packBuilder) (*builtPack, error) {
	_, name, err := pb.finish()
	if err != nil {
		w.spools <- pb.spool
		return nil, err
	}
	return &builtPack{name: name, spool: pb.spool, size: int64(pb.size()), entries: pb.entries}, nil
}

// newSpool creates an unlinked temporary file: nothing is left behind
// if the process dies.
func newSpool(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "coffer-pack-")
	if err != nil {
		return nil, fmt.Errorf("create pack spool file: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

func (w *Writer) uploadStage(in <-chan *builtPack) error {
	for p := range in {
		err := w.upload(p)
		w.spools <- p.spool
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) upload(p *builtPack) error {
	name := w.ds.packName(p.name)
	if err := w.e.registerPack(w.ctx, w.ds, string(w.id), p.name, p.size); err != nil {
		return err
	}
	if err := createFrom(w.ctx, w.ds.store, name, io.NewSectionReader(p.spool, 0, p.size), p.size); err != nil && !errors.Is(err, blob.ErrExists) {
		return fmt.Errorf("upload pack %s: %w", name, err)
	}
	if err := w.e.addPack(w.ctx, w.ds, w.id, p.name, p.entries); err != nil {
		return err
	}
	w.pendMu.Lock()
	for _, en := range p.entries {
		delete(w.pending, en.ID)
	}
	w.pendMu.Unlock()
	w.c.chunksNew.Add(int64(len(p.entries)))
	w.c.bytesWritten.Add(p.size)
	w.c.packs.Add(1)
	w.mu.Lock()
	w.packs = append(w.packs, indexPack{Name: p.name, Size: p.size, Entries: p.entries})
	w.mu.Unlock()
	return nil
}

// closeSpools closes the spool files once the pipeline has stopped.
func (w *Writer) closeSpools() {
	for i := 0; i < cap(w.spools); i++ {
		select {
		case f := <-w.spools:
			if f != nil {
				f.Close()
			}
		default:
		}
	}
}

// Write adds p to the stream.
func (w *Writer) Write(p []byte) (int, error) {
	if w.pw == nil {
		return 0, errors.New("vaultstore: this writer takes no stream")
	}
	n, err := w.pw.Write(p)
	w.h.Write(p[:n])
	w.written += int64(n)
	if err != nil {
		if e := w.firstErr(); e != nil {
			err = e
		}
	}
	return n, err
}

// StreamDigest is the length and SHA-256 of the bytes Write took so far:
// after the last Write, what the recovery point's manifest records and
// what Reader checks the stream against. A producer that records its
// stream's digest (engine.Metadata) takes it from here instead of
// hashing the stream a second time.
func (w *Writer) StreamDigest() (int64, [32]byte) {
	var sum [32]byte
	if w.h != nil {
		w.h.Sum(sum[:0])
	}
	return w.written, sum
}

// Commit ends the stream, waits until every pack and index entry is
// durable, writes the manifest and makes the recovery point visible. On
// error nothing is committed; GC cleans up what was written.
func (w *Writer) Commit(ctx context.Context) (ManifestID, Stats, error) {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return "", Stats{}, errors.New("vaultstore: writer already committed or aborted")
	}
	w.finished = true
	w.mu.Unlock()
	if w.pw != nil {
		w.pw.Close()
	}
	<-w.done
	w.closeSpools()
	close(w.hbStop)
	defer w.cancel()
	if w.h != nil {
		w.h.Sum(w.sum[:0])
	}
	if err := w.firstErr(); err != nil {
		w.drop()
		return "", w.c.snapshot(), err
	}
	if err := w.finish(ctx); err != nil {
		w.drop()
		return "", w.c.snapshot(), err
	}
	return w.id, w.c.snapshot(), nil
}

func (w *Writer) finish(ctx context.Context) error {
	ds := w.ds
	idb, _ := w.id.bytes()
	m := &manifest{Size: w.size, SHA256: w.sum, Created: w.e.now(), Meta: w.meta, Chunks: w.entries}
	obj := sealObject(w.k.meta, kindManifest, ds.id, idb, encodeManifest(m))
	if err := createObject(ctx, ds.store, ds.manifestName(w.id), obj); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	w.c.bytesWritten.Add(int64(len(obj)))
	if len(w.packs) > 0 {
		idx := sealObject(w.k.meta, kindIndex, ds.id, nil, encodeIndex(w.packs))
		sum := sha256.Sum256(idx)
		if err := createObject(ctx, ds.store, ds.prefix()+"index/"+hex.EncodeToString(sum[:]), idx); err != nil && !errors.Is(err, blob.ErrExists) {
			return fmt.Errorf("write index object: %w", err)
		}
		w.c.bytesWritten.Add(int64(len(idx)))
	}
	now := w.e.now()
	res, err := w.e.db.ExecContext(ctx, `UPDATE vs_manifests SET state = 'committed', lease_expires = 0, size = ?, chunks = ?, sha256 = ?, committed_at = ?
		WHERE manifest_id = ? AND state = 'writing' AND lease_expires > ?`, m.Size, int64(len(m.Chunks)), m.SHA256[:], now, string(w.id), now)
	if err != nil {
		return fmt.Errorf("commit recovery point: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		ds.store.Delete(context.WithoutCancel(ctx), ds.manifestName(w.id))
		return ErrLeaseExpired
	}
	return nil
}

// drop forgets an uncommitted manifest and its references, and deletes
// at once the packs it uploaded that nothing else uses.
func (w *Writer) drop() {
	ctx := context.WithoutCancel(w.ctx)
	// Released even when the row is gone already (ReleaseOwner or GC
	// fenced this writer out): packs it uploaded since are its own.
	_, err := w.e.dropWriting(ctx, w.id, 0)
	if err == nil {
		var st GCStats
		err = w.e.release(ctx, w.ds, w.id, &st)
	}
	if err != nil {
		// GC finishes the job once the lease has run out.
		w.e.log.Warn("vaultstore: release an uncommitted recovery point", "manifest", w.id, "err", err)
	}
}

// Abort stops the writer and drops what it wrote. Aborting after Commit
// does nothing.
func (w *Writer) Abort() error {
	w.mu.Lock()
	if w.finished {
		w.mu.Unlock()
		return nil
	}
	w.finished = true
	w.mu.Unlock()
	w.fail(ErrAborted)
	if w.pw != nil {
		w.pw.CloseWithError(ErrAborted)
	}
	<-w.done
	w.closeSpools()
	close(w.hbStop)
	w.drop()
	return nil
}
