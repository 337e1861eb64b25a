package pmu

import "strings"

// The generic hardware cache events (PERF_TYPE_HW_CACHE). perf names them
// <cache>-<op>-<result> and accepts a set of aliases for each part; the
// tables below follow tools/perf/util/evsel.c (evsel__hw_cache,
// evsel__hw_cache_op, evsel__hw_cache_result and evsel__hw_cache_stat). The
// first alias of each row is the canonical part of the name.

// cacheTypes lists the caches with their aliases, indexed by
// PERF_COUNT_HW_CACHE_* id.
var cacheTypes = [...]struct {
	aliases []string
	ops     uint8 // bit set of valid ops (1<<op)
	desc    string
}{
	perfCountHWCacheL1D:  {[]string{"L1-dcache", "l1-d", "l1d", "L1-data"}, opRead | opWrite | opPrefetch, "level 1 data cache"},
	perfCountHWCacheL1I:  {[]string{"L1-icache", "l1-i", "l1i", "L1-instruction"}, opRead | opPrefetch, "level 1 instruction cache"},
	perfCountHWCacheLL:   {[]string{"LLC", "L2"}, opRead | opWrite | opPrefetch, "last level cache"},
	perfCountHWCacheDTLB: {[]string{"dTLB", "d-tlb", "Data-TLB"}, opRead | opWrite | opPrefetch, "data TLB"},
	perfCountHWCacheITLB: {[]string{"iTLB", "i-tlb", "Instruction-TLB"}, opRead, "instruction TLB"},
	perfCountHWCacheBPU:  {[]string{"branch", "branches", "bpu", "btb", "bpc"}, opRead, "branch prediction unit"},
	perfCountHWCacheNode: {[]string{"node"}, opRead | opWrite | opPrefetch, "local memory node (NUMA)"},
}

const (
	opRead     = 1 << perfCountHWCacheOpRead
	opWrite    = 1 << perfCountHWCacheOpWrite
	opPrefetch = 1 << perfCountHWCacheOpPrefetch
)

// cacheOps lists the operations, indexed by PERF_COUNT_HW_CACHE_OP_*. The
// second alias is the plural used for access counts ("L1-dcache-loads").
var cacheOps = [...]struct {
	aliases []string
	desc    string
}{
	perfCountHWCacheOpRead:     {[]string{"load", "loads", "read"}, "loads"},
	perfCountHWCacheOpWrite:    {[]string{"store", "stores", "write"}, "stores"},
	perfCountHWCacheOpPrefetch: {[]string{"prefetch", "prefetches", "speculative-read", "speculative-load"}, "prefetches"},
}

// cacheResults lists the results, indexed by PERF_COUNT_HW_CACHE_RESULT_*.
var cacheResults = [...][]string{
	perfCountHWCacheResultAccess: {"refs", "Reference", "ops", "access"},
	perfCountHWCacheResultMiss:   {"misses", "miss"},
}

// cacheEventName returns perf's canonical name of a cache event:
// "L1-dcache-loads" for an access count, "L1-dcache-load-misses" for a miss
// count.
func cacheEventName(id, op, result int) string {
	if result == perfCountHWCacheResultAccess {
		return cacheTypes[id].aliases[0] + "-" + cacheOps[op].aliases[1]
	}
	return cacheTypes[id].aliases[0] + "-" + cacheOps[op].aliases[0] + "-" + cacheResults[result][0]
}

// cacheEventDesc describes a cache event in a sentence fragment.
func cacheEventDesc(id, op, result int) string {
	what := cacheOps[op].desc
	if result == perfCountHWCacheResultMiss {
		what += " that missed"
	}
	return what + " in the " + cacheTypes[id].desc
}

// matchCachePart finds the longest alias of one of the rows that is a
// prefix of s (ignoring case) and ends at the end of s or at a '-'. It
// returns the row index and the alias length, or -1.
func matchCachePart(s string, rows int, alias func(int) []string) (row, n int) {
	row = -1
	for i := 0; i < rows; i++ {
		for _, a := range alias(i) {
			if len(a) <= n || len(a) > len(s) || !strings.EqualFold(s[:len(a)], a) {
				continue
			}
			if len(a) < len(s) && s[len(a)] != '-' {
				continue
			}
			row, n = i, len(a)
		}
	}
	return row, n
}

// decodeCacheEvent decodes a cache event name the way perf does: a cache
// alias, then optionally an op alias and a result alias (in either order),
// separated by '-' and matched without regard to case. A missing op means
// load, a missing result means access. Unlike perf, every character of
// name must be consumed. ok is false when name is not a valid cache event
// (including an op the cache does not support, such as iTLB stores).
func decodeCacheEvent(name string) (id, op, result int, ok bool) {
	id, n := matchCachePart(name, len(cacheTypes), func(i int) []string { return cacheTypes[i].aliases })
	if id < 0 {
		return 0, 0, 0, false
	}
	op, result = -1, -1
	rest := name[n:]
	for k := 0; k < 2 && rest != ""; k++ {
		rest = rest[1:] // the '-' matchCachePart checked
		if op < 0 {
			if o, n := matchCachePart(rest, len(cacheOps), func(i int) []string { return cacheOps[i].aliases }); o >= 0 {
				op, rest = o, rest[n:]
				continue
			}
		}
		if result < 0 {
			if r, n := matchCachePart(rest, len(cacheResults), func(i int) []string { return cacheResults[i] }); r >= 0 {
				result, rest = r, rest[n:]
				continue
			}
		}
		return 0, 0, 0, false
	}
	if rest != "" {
		return 0, 0, 0, false
	}
	if op < 0 {
		op = perfCountHWCacheOpRead
	}
	if result < 0 {
		result = perfCountHWCacheResultAccess
	}
	if cacheTypes[id].ops&(1<<op) == 0 {
		return 0, 0, 0, false
	}
	return id, op, result, true
}

// cacheEvent returns the resolved Event of a cache event.
func cacheEvent(id, op, result int) Event {
	return Event{
		Name:   cacheEventName(id, op, result),
		Kind:   KindHWCache,
		Type:   perfTypeHWCache,
		Config: cacheConfig(uint64(id), uint64(op), uint64(result)),
	}
}

// cacheEntries lists every valid cache event, in perf's table order.
func cacheEntries() []Entry {
	var out []Entry
	for id := range cacheTypes {
		for op := range cacheOps {
			if cacheTypes[id].ops&(1<<op) == 0 {
				continue
			}
			for result := range cacheResults {
				ev := cacheEvent(id, op, result)
				out = append(out, Entry{
					Name:        ev.Name,
					Kind:        KindHWCache,
					Description: cacheEventDesc(id, op, result),
					Event:       ev,
				})
			}
		}
	}
	return out
}
