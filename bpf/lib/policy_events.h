/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Record layout and map types of the policy enforcer (policy.bpf.c); bpf2go generates the Go
 * types from these, internal/enforce fills the maps. */
#pragma once

#include "events.h"

/* Rules are numbered 0..POL_MAX_RULES-1 within a set (policy.Rule.ID - 1); every selector
 * lookup yields a bitmap of the rules it satisfies. */
#define POL_RULE_WORDS 4
#define POL_MAX_RULES (POL_RULE_WORDS * 64)
#define POL_KEY_BYTES 256 /* = FILE_KEY_BYTES: paths are matched on their first 255 bytes */

struct pol_bits {
	__u64 w[POL_RULE_WORDS];
};

/* The hooks a rule can be evaluated at; the loader assigns each rule to one hook per operation
 * (its backend) and the set's header holds the rules of each hook. */
enum pol_hook {
	POL_HOOK_EXEC_LSM = 0,    /* lsm/bprm_check_security: deny = -EPERM */
	POL_HOOK_EXEC_TP = 1,     /* tp_btf/sched_process_exec: kill, signal, audit */
	POL_HOOK_FILE_LSM = 2,    /* lsm/file_open: deny = -EPERM */
	POL_HOOK_CONNECT_LSM = 3, /* lsm/socket_connect */
	POL_HOOK_CONNECT_CG = 4,  /* cgroup/connect4, connect6 */
	POL_HOOK_BIND_LSM = 5,    /* lsm/socket_bind */
	POL_HOOK_BIND_CG = 6,     /* cgroup/bind4, bind6 */
	POL_HOOK_SEND_LSM = 7,    /* lsm/socket_sendmsg (explicit destinations) */
	POL_HOOK_SEND_CG = 8,     /* cgroup/sendmsg4, sendmsg6 */
	POL_HOOK_SETUID_LSM = 9,  /* lsm/task_fix_setuid: deny = -EPERM, nothing changes */
	POL_HOOK_SETUID_TP = 10,  /* tracepoint/syscalls/sys_exit_set{,re,res,fs}uid: after the change */
	POL_HOOK_PATH_LSM = 11,   /* lsm/path_unlink, path_rename, path_chmod, ...: deny = -EPERM */
	POL_HOOK_LISTEN_LSM = 12, /* lsm/socket_listen */
	POL_HOOK_LISTEN_TP = 13,  /* tp_btf/inet_sock_set_state to TCP_LISTEN: kill, signal, audit */
	POL_HOOK_MAX = 14,
};

enum pol_action {
	POL_ACT_AUDIT = 1,
	POL_ACT_DENY = 2,
	POL_ACT_KILL = 3,
	POL_ACT_SIGNAL = 4,
	POL_ACT_SUPPRESS = 5, /* process.exec only: mute the process (osec_mute) */
};

enum pol_outcome {
	POL_OUT_AUDITED = 1,
	POL_OUT_DENIED = 2,
	POL_OUT_KILLED = 3,
	POL_OUT_SIGNALED = 4,
	POL_OUT_WOULD_DENY = 5,
	POL_OUT_WOULD_KILL = 6,
	POL_OUT_WOULD_SIGNAL = 7,
	POL_OUT_SIGNAL_FAILED = 8, /* bpf_send_signal refused (e.g. the task is exiting) */
	POL_OUT_WOULD_SUPPRESS = 9, /* a suppress rule in monitor mode (enforced ones write no record) */
};

/* pol_rule.flags */
enum pol_rule_flags {
	POL_MONITOR = 1 << 0,       /* report what would have happened */
	POL_KILL_FALLBACK = 1 << 1, /* a deny carried out as SIGKILL (no deny backend here) */
};

/* One rule of a generation (osec_pol_rules[gen * POL_MAX_RULES + id]). */
struct pol_rule {
	__u8 action; /* enum pol_action */
	__u8 flags;  /* enum pol_rule_flags */
	__u16 pad;
	__u32 signal;
	__u64 interval_ns; /* rate limit: 1e9 / per_second; 0 = unlimited */
	__u64 burst_ns;    /* burst * interval_ns */
};

/* file op bits (policy.FileOps): open, read, write, create (and truncate by O_TRUNC) seen at
 * file_open; the others at the path hooks (POL_HOOK_PATH_LSM) */
#define POL_FOP_OPEN 0
#define POL_FOP_READ 1
#define POL_FOP_WRITE 2
#define POL_FOP_CREATE 3
#define POL_FOP_UNLINK 4
#define POL_FOP_RENAME 5
#define POL_FOP_CHMOD 6
#define POL_FOP_CHOWN 7
#define POL_FOP_TRUNCATE 8
#define POL_FOP_LINK 9 /* link and symlink: a new name */
#define POL_FOP_MKDIR 10
#define POL_FOP_RMDIR 11
#define POL_FOP_BITS 12

/* Argument selectors (exec, at sched_process_exec): the strings a set looks for in the command
 * line (its arguments joined by spaces, first POL_ARGS_BYTES bytes). */
#define POL_MAX_NEEDLES 32
#define POL_NEEDLE_BYTES 64
#define POL_ARGS_BYTES 1024
#define POL_GRAM_WORDS 1024 /* 65536 bits: one per pair of bytes */
#define POL_CAPS 64

struct pol_needle {
	__u8 bytes[POL_NEEDLE_BYTES];
	__u32 len;
	__u32 pad;
	struct pol_bits rules; /* the rules that need this string */
};

/* osec_pol_args[gen]: the needles, and a bitmap of the byte pairs that begin one (the scan
 * compares needles only where the command line has such a pair). */
struct pol_args {
	__u32 n;
	__u32 pad;
	__u64 grams[POL_GRAM_WORDS];
	struct pol_needle needle[POL_MAX_NEEDLES];
};

/* The header of a generation: which rules each hook evaluates and which rules place no
 * constraint on a selector (they match whatever the lookup finds). */
/* pol_hdr.need[hook]: which of the header's selector and action sets some rule of the hook
 * uses. The programs test these bits, on the header's first cache line with the generation,
 * before reading a set: each set lies on a line of its own, and after an exec every line not
 * in the cache costs ~0.1 µs on the VM measured (BENCHMARKS.md, "Policy enforcement"). The
 * candidates of an operation start as hook[hook] and only shrink, so a clear bit means the set
 * cannot change them. */
enum pol_need {
	POL_NEED_WORKLOAD = 1 << 0, /* a rule with a workload selector (not in all_workloads) */
	POL_NEED_UID = 1 << 1,      /* not in any_uid */
	POL_NEED_EUID = 1 << 2,     /* not in any_euid */
	POL_NEED_CAP = 1 << 3,      /* not in any_cap */
	POL_NEED_STDIO = 1 << 4,    /* in stdio_socket */
	POL_NEED_PARENT = 1 << 5,   /* not in any_parent */
	POL_NEED_ARGS = 1 << 6,     /* in args */
	POL_NEED_DENY = 1 << 7,     /* in deny */
	POL_NEED_KILL = 1 << 8,     /* in kill */
	POL_NEED_SIGNAL = 1 << 9,   /* in signal */
	POL_NEED_SUPPRESS = 1 << 10, /* in suppress */
};

#define POL_NEED_HOOKS 16 /* need[]'s size: POL_HOOK_MAX rounded up, the line's layout */

struct pol_hdr {
	__u64 generation; /* policy.Set.Generation */
	__u64 seq;        /* increases with every Apply: invalidates osec_pol_bincache */
	__u16 need[POL_NEED_HOOKS]; /* per hook: enum pol_need */
	__u64 pad[2];     /* hook[] starts 64 bytes in (the map is page-aligned: BPF_F_MMAPABLE) */
	struct pol_bits hook[POL_HOOK_MAX];
	struct pol_bits all_workloads; /* rules with no workload selector */
	struct pol_bits any_binary;    /* rules with no binary selector */
	struct pol_bits bin_suffix;    /* rules with binary suffixes (match or except) */
	struct pol_bits bin_except;    /* rules with an except-binary selector */
	struct pol_bits any_uid;
	struct pol_bits any_euid;
	struct pol_bits any_path;
	struct pol_bits any_parent;    /* rules with no parent binary selector */
	struct pol_bits par_suffix;    /* rules with parent binary suffixes */
	struct pol_bits args;          /* rules with argument selectors */
	struct pol_bits stdio_socket;  /* rules that need an AF_INET/AF_INET6 socket as stdio */
	struct pol_bits any_cap;       /* rules with no capability selector */
	struct pol_bits cap[POL_CAPS]; /* rules that a process with capability i satisfies */
	struct pol_bits any_addr;
	struct pol_bits any_port;
	struct pol_bits tcp;           /* rules whose protocol allows TCP */
	struct pol_bits udp;
	struct pol_bits file_op[POL_FOP_BITS];
	struct pol_bits deny;          /* action deny, enforce, carried out by the hook */
	struct pol_bits kill;          /* action kill (or deny with the kill fallback), enforce */
	struct pol_bits signal;        /* action signal, enforce */
	struct pol_bits any_touid;     /* privilege-change rules with no toUIDs selector */
	struct pol_bits suppress;      /* action suppress, enforce (exec, at the tracepoint) */
	__u64 pad_end[4];              /* to a multiple of 64 bytes (see pad) */
};
_Static_assert(POL_HOOK_MAX <= POL_NEED_HOOKS, "pol_hdr.need holds a word per hook");
_Static_assert(__builtin_offsetof(struct pol_hdr, hook) == 64, "need and generation share the first line");
_Static_assert(sizeof(struct pol_hdr) % 64 == 0, "every generation's header starts on a line");


/* osec_pol_active[0]: the generation (0 or 1) the programs read; on = 0 when no set applies. */
struct pol_active {
	__u32 gen;
	__u32 on;
};

/* Path keys (binaries, files): struct file_key of file_events.h (prefix tries with '/' appended;
 * the exact hash with the whole key, zero-filled). CIDR keys: */
struct pol_lpm4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct pol_lpm6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* The CIDR lookup without the tries (osec_pol_net4, osec_pol_net6, osec_pol_netx,
 * osec_pol_net4val, osec_pol_net6val in policy.bpf.c). */
enum pol_net_flags {
	POL_NET_TRIE = 1 << 0, /* search the family's trie for the addresses of this /16 */
};

/* osec_pol_net4 and osec_pol_net6 value: a /16, by an address's first 16 bits. */
struct pol_net16 {
	__u8 val;   /* the rules of the longest CIDR of /16 or shorter covering the /16: an index into
		     * the family's table of rules (0: none) */
	__u8 flags; /* enum pol_net_flags */
	__u16 node; /* the node of the CIDRs longer than /16 in it: its index in osec_pol_netx + 1
		     * (0: none) */
};

/* osec_pol_netx value: a node, a level of a multibit trie (8 bits a level, levels without a
 * branch or a CIDR skipped): the CIDRs under a prefix of lvl bytes, by the address's byte lvl.
 * Addresses are 16 bytes, IPv4 ones mapped (::ffff:a.b.c.d): an IPv4 /16's nodes are at
 * levels 14 and 15. A node's children are consecutive, in the order of their byte: the child
 * of byte b is at kids + rank[b / 64] + the bits of has[b / 64] below b. 336 bytes. */
struct pol_netn {
	__u64 addr[2];  /* the prefix: the address's first lvl bytes, the rest zero (as loaded) */
	__u64 mask[2];  /* 0xff for each of those bytes, the rest zero */
	__u32 lvl;      /* 2 to 15 */
	__u32 kids;     /* the index of the first child in osec_pol_netx */
	__u64 has[4];   /* a bit per byte value with a child: longer CIDRs under it */
	__u8 rank[4];   /* the children of the words of has before each */
	__u8 pad[4];
	__u8 val[256];  /* by byte lvl: the rules of the longest CIDR covering the prefix and that
			 * byte, an index into the family's table of rules (0: none) */
};

/* Value of the binary maps: the rules whose binary selector matches, and the rules whose
 * except-binary selector matches (they do not apply). */
struct pol_binval {
	struct pol_bits match;
	struct pol_bits except;
};

/* Value of the cgroup map: rules selecting exactly this cgroup, and rules selecting it and
 * every cgroup below it. */
struct pol_cgroup {
	struct pol_bits self;
	struct pol_bits subtree;
};

/* Counters (per CPU): operations evaluated, decisions rate-limited, decisions beyond the
 * per-operation bound (POL_MAX_DECISIONS), paths too long to match. */
struct pol_hook_stats {
	__u64 evaluated;
	__u64 matched; /* next to evaluated: a decision touches no other line of the counters */
};

struct pol_stats {
	struct pol_hook_stats hook[POL_HOOK_MAX];
	__u64 rate_limited;
	__u64 truncated;
	__u64 path_unmatchable;
	__u64 args_truncated; /* command lines longer than POL_ARGS_BYTES (matched on their start) */
	__u64 muted;          /* execs a suppress rule muted */
};

/* policy_event.flags */
enum pol_event_flags {
	POL_EV_PATH = 1 << 0,           /* path holds a path */
	POL_EV_PATH_TRUNCATED = 1 << 1, /* longer than the record's path (first bytes kept) */
	POL_EV_ADDR = 1 << 2,           /* family, addr, port, protocol are set */
	POL_EV_CREDS = 1 << 3,          /* a privilege change: uid, euid, fsuid are the new
					 * credentials, old_* the ones before */
	POL_EV_PATH_NEW = 1 << 4,       /* rename, link: path is the new name (the old one did not match) */
};

/* A decision: one record per matching rule (at most POL_MAX_DECISIONS per operation). */
struct policy_event {
	struct event_header hdr;
	__u64 generation;
	__u64 cgroup_id;
	__u32 rule_id;  /* policy.Rule.ID */
	__u8 hook;      /* enum pol_hook */
	__u8 action;    /* enum pol_action */
	__u8 outcome;   /* enum pol_outcome */
	__u8 rflags;    /* enum pol_rule_flags */
	__u32 flags;    /* enum pol_event_flags */
	__u32 uid;
	__u32 euid;
	__u32 file_ops; /* policy.FileOps bits of the operation */
	__u16 family;
	__u16 port;
	__u16 protocol;
	__u16 path_len; /* bytes of path, no NUL */
	__u8 addr[16];  /* IPv4-mapped for IPv4 */
	__u32 fsuid;     /* POL_EV_CREDS: the new fsuid */
	__u32 old_uid;   /* POL_EV_CREDS: the credentials before the change */
	__u32 old_euid;
	__u32 old_fsuid;
	char comm[16];
	char path[POL_KEY_BYTES]; /* last: a record ends after path_len bytes of it */
};
