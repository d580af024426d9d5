// Package vaultstore is coffer's vault storage engine: it stores recovery
// points (byte streams, e.g. a database dump) deduplicated, compressed and
// encrypted in a blob.Store, keeps its index in the metadata store, copies
// recovery points between dedup domains re-encrypting only what the
// destination lacks, and collects garbage safely while writers run.
//
// # Dedup domains and keys
//
// A dedup domain is (vault, KMS key ARN) in a region. Its ID is the first
// 16 bytes of SHA-256("coffer domain v1" 0x00 region 0x00 vault 0x00
// keyARN). Its master key is 32 random bytes, wrapped by KMS
// GenerateDataKey under the KMS key with the encryption context {"coffer:vault": vault, "coffer:domain": hex ID}, and
// stored only wrapped: in the metadata store and in the domain record
// object. Every operation unwraps it with one KMS Decrypt made as the
// caller (the principal travels in the context), so a caller the key
// policy refuses cannot read, write or copy the domain. Deleting the KMS
// key makes the domain unreadable for good, as in AWS.
//
// Subkeys, HKDF-SHA-256 of the master key with no salt and these infos:
//
//	"coffer v1 encryption"  packs
//	"coffer v1 chunk id"    BLAKE3 key of chunk IDs
//	"coffer v1 chunker"     FastCDC gear table key (see package chunker)
//	"coffer v1 metadata"    manifests and index objects
//
// A chunk ID is keyed BLAKE3-256(chunk-id key, plaintext): equal content
// has unrelated IDs in different domains. Chunks are cut with FastCDC,
// 16/64/256 KiB min/avg/max, except where the writer marks sections
// (Writer.Boundary): every section starts a new chunk, and a section may
// be cut into fixed blocks instead (e.g. 8 KiB database pages, so an
// unchanged page is an unchanged chunk). Sections only move cut points;
// nothing about them is stored.
//
// # Object names
//
// Within the region's store, for vault V and domain D (32 hex digits):
//
//	V/domains/D                 domain record (JSON, below)
//	V/D/data/XX/H               data pack; H = hex SHA-256 of its bytes, XX = H[:2]
//	V/D/index/H                 index object; H = hex SHA-256 of its bytes
//	V/D/manifests/M             manifest of recovery point M (32 hex digits)
//
// Objects are created once (Creator where the store has it) and never
// overwritten; data packs and index objects are named by content. Data
// (packs) and metadata (manifests, index objects, domain records) live
// apart. A writer builds each pack in an unlinked spool file, so it holds
// no pack in memory and a crash leaves nothing behind locally.
//
// # Additional authenticated data
//
// Every AES-256-GCM seal binds
//
//	"coffer" (6 bytes) | version (1, = 1) | kind (1) | domain ID (16) | extra
//
// with kinds and extra:
//
//	1 chunk     chunk ID (32) | flags (1) | plaintext length (4, LE)
//	2 trailer   pack salt (32)
//	3 manifest  manifest ID (16)
//	4 index     nothing
//
// # Data pack (~16 MiB)
//
//	offset  size  field
//	0       4     magic "CFPK"
//	4       1     version = 1
//	5       1     pack kind = 1 (data)
//	6       2     reserved, zero
//	8       32    salt, random
//	40      ...   entries, back to back:
//	                nonce (12, random) | AES-256-GCM(pack key, nonce, payload, AAD kind 1) (payload + 16-byte tag)
//	T       ...   sealed trailer: nonce (12) | AES-256-GCM(pack key, nonce, trailer, AAD kind 2)
//	end-8   4     length of the sealed trailer (nonce + ciphertext + tag), uint32 LE
//	end-4   4     magic "CFPT"
//
// pack key = HKDF-SHA-256(encryption key, salt, "coffer v1 pack"). A
// payload is the chunk compressed as one zstd frame (flags 1), or the
// plaintext itself (flags 0) when compression saves less than 1/20.
//
// Trailer plaintext (also the entry list of an index object), integers
// as unsigned LEB128 varints ("uv"):
//
//	uv count, then count times:
//	  chunk ID (32) | uv offset of the entry's nonce in the pack | uv entry length
//	  (nonce + ciphertext + tag) | uv plaintext length | flags (1)
//
// Entries are in pack order, non-overlapping, between the header and the
// trailer. The trailer lets the index be rebuilt from packs alone.
//
// # Manifest and index objects
//
//	offset  size  field
//	0       4     magic "CFMF" (manifest) or "CFIX" (index)
//	4       1     version = 1
//	5       1     kind (3 manifest, 4 index)
//	6       2     reserved, zero
//	8       32    salt, random
//	40      12    nonce, random
//	52      ...   AES-256-GCM(HKDF-SHA-256(metadata key, salt, "coffer v1 object"), nonce, plaintext, AAD)
//
// Manifest plaintext:
//
//	8   stream size, uint64 LE
//	32  SHA-256 of the whole stream (hashed as Writer.Write takes it;
//	    Writer.StreamDigest and Reader.StreamDigest give it, with the
//	    size, to a producer or consumer that records or checks the same)
//	8   created, Unix nanoseconds, int64 LE
//	uv  metadata count, then per entry in key order: uv len | key | uv len | value
//	uv  chunk count, then per chunk in stream order: chunk ID (32) | uv plaintext length
//
// The lengths add up to the stream size. Index plaintext:
//
//	uv pack count, then per pack: pack SHA-256 (32) | uv pack size | entry list as in the trailer
//
// A writer writes one index object for the packs it created, before it
// commits.
//
// # Domain record
//
// JSON: {"version":1, "region", "vault", "domain" (hex), "keyArn", "wrappedKey"
// (base64 of the KMS ciphertext blob), "encryptionContext", "chunker":
// {"min","avg","max"}}. It holds no secret in the clear.
//
// # Index, leases and garbage collection
//
// The live index lives in the metadata store (tables vs_*: domains,
// packs, chunks, manifests, refs, gc). Pack states: uploading (registered
// with its owner before its object is written), live (indexed, visible to
// dedup), condemned (invisible to dedup, still readable), deleting.
// A reference (vs_refs) is a chunk ID and a manifest ID: chunk IDs are
// keyed per domain, so the ID alone says whether a domain's chunk is in
// use (two domains sharing an ID, a 2^-128 chance, would only keep a
// chunk longer).
//
// A writer holds a lease: its manifest row in state writing, with an
// expiry it renews every third of Options.Lease. It records a reference
// for every chunk it uses: reused chunks in the transaction that looks
// them up and locks their packs as live (UPDATE ... WHERE state = 'live'),
// new chunks in the transaction that makes their pack live. Every such
// transaction first renews the lease and fails if it has run out, and the
// commit flips writing to committed only while the lease holds (fencing):
// a writer GC has given up on can add nothing and commit nothing.
//
// A writer may carry an owner and attempt (vs_manifests.owner,
// owner_attempt: a job and its attempt, WithOwner). When a writer fails
// or is aborted, when ReleaseOwner drops the writers of an owner's
// earlier attempts (fenced out by their job), and when GC drops an
// expired lease, the writer's manifest row and references go first,
// then each pack it created (vs_packs.owner) that no reference names is
// set deleting, its chunks unindexed and its object deleted at once:
// with no reference, no committed recovery point reads it, and the
// state change takes the pack's row lock before the references are
// counted, as condemning does. Packs something refers to are left to
// GC's usual course.
//
// GC, per domain, holding the domain's row in vs_gc: finishes interrupted
// manifest deletions; drops expired leases with their references;
// deletes uploading packs whose owner is gone; deletes condemned packs
// older than DeleteDelay (rechecking that nothing needs them); condemns
// live packs older than Grace none of whose chunks is referenced without
// another live copy (the condemning UPDATE takes the pack's row lock
// before the reference count is read, so it serialises with writers
// locking the pack for reuse); repacks packs whose unreferenced share
// exceeds RepackWaste (new pack indexed first, old one condemned after);
// and deletes objects no row knows of that are older than Grace.
// Deleting a recovery point (DeleteManifest) asks the Protector first,
// so nothing a vault lock or legal hold protects is ever collected.
//
// Objects are deleted before the rows that name them, and rows are
// created before the objects they name, so a crash at any point leaves
// either garbage GC finds or nothing at all; a committed recovery point
// is never left without its data.
package vaultstore
