package policy

// Limits of one policy Set. They bound what the enforcer loads into BPF maps: a Set that
// passes Compile fits the kernel side (internal/enforce, whose own limits are at least
// these), so `otelsec policy validate` catches an oversized set offline. The issue's
// benchmark (10,000 path prefixes and 10,000 CIDRs in one set) fits.
const (
	// MaxRules is the number of rules in a Set (rule ids are 1..MaxRules): the width of the
	// kernel's rule bitmaps (internal/enforce.MaxRules, POL_MAX_RULES).
	MaxRules = 256
	// MaxPaths is the number of file path patterns (exact and prefix) over all rules.
	MaxPaths = 16384
	// MaxBinaries is the number of binary patterns (binary, exceptBinary and parentBinary;
	// exact, prefix and suffix) over all rules.
	MaxBinaries = 4096
	// MaxCIDRs is the number of CIDRs over all rules (IPv4 and IPv6 together).
	MaxCIDRs = 16384
	// MaxPortRanges is the number of port ranges over all rules.
	MaxPortRanges = 4096
	// MaxWorkloadEntries is the number of workload entries (namespaces, container names,
	// images and cgroup paths) over all rules.
	MaxWorkloadEntries = 4096
	// MaxIDEntries is the number of distinct uids, and of distinct euids, over all rules
	// (internal/enforce.MaxIDEntries).
	MaxIDEntries = 4096

	// MaxPatternBytes is the length of one path or binary pattern: the kernel matches the
	// first 255 bytes of a path, and a prefix needs one more for its '/'
	// (internal/enforce.MaxPathBytes). Longer patterns are an error.
	MaxPatternBytes = 254
	// MaxArgs is the number of args.contain strings of one rule; MinArgBytes and MaxArgBytes
	// bound the length of each (the kernel's scan starts from a string's first two bytes and
	// compares at most 64); MaxArgStrings is the number of distinct strings of a set
	// (internal/enforce.MaxArgStrings).
	MaxArgs       = 8
	MinArgBytes   = 2
	MaxArgBytes   = 64
	MaxArgStrings = 32
	// MaxIDs is the number of uids, euids or toUIDs of one rule.
	MaxIDs = 64
)
