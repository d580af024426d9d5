package app

import (
	"os"
	"runtime/debug"
)

// ServerGCPercent is the garbage collector's target for `coffer serve`
// when GOGC is not set. A request allocates tens of kilobytes that die
// with it while the live heap stays small, so Go's default (100) collects
// every few megabytes, dozens of times a second under load, and requests
// caught by a collection wait on it. Measured with the KMS benchmark
// (Encrypt at 32 clients, two cores, server and SDK clients in one
// process): GOGC 100: 8.9k req/s, p99 11.5 ms, 85 MB peak RSS; 400: 10.3k,
// 9.7 ms, 130 MB; 800: 10.8k, 8.1 ms, 196 MB. Set GOGC (and GOMEMLIMIT) to
// trade the other way.
const ServerGCPercent = 800

// ServerMemoryLimit is the soft memory limit of `coffer serve` when
// GOMEMLIMIT is not set. GOGC 800 lets the heap reach nine times what is
// live: with tens of MB live under load (WAL captures, backup pipelines)
// that was 1.2–2.1 GiB per node in `coffer bench cluster` (293–300 MiB with a
// 256 MiB limit, so 192 leaves room for what is not heap). The limit makes
// the collector run sooner only when the heap nears it; a node whose live
// heap needs more keeps working, the runtime capping the collector's CPU.
const ServerMemoryLimit = 192 << 20

// TuneGC applies ServerGCPercent and ServerMemoryLimit unless the
// operator set GOGC or GOMEMLIMIT.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(ServerGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(ServerMemoryLimit)
	}
}
