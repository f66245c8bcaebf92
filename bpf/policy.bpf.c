//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The policy enforcer: runtime policy rules (internal/policy, compiled by internal/enforce)
 * evaluated in the kernel, with a decision record for every matching rule.
 *
 * Matching. Every rule of a set has a number (policy.Rule.ID - 1, at most POL_MAX_RULES) and
 * every selector is a map lookup that yields the bitmap of the rules it satisfies; rules that
 * place no constraint on a selector are in the header's any_* bitmap for it. An operation's
 * matching rules are the AND of the bitmaps of its hook, its workload (cgroup), its binary, its
 * uid and euid and, by event, its file path and operation or its address, port and protocol.
 * The cost of an operation is therefore a fixed number of lookups whatever the number of
 * entries: hash maps for exact binaries and paths, longest-prefix-match tries for path
 * prefixes and CIDRs (the loader stores in each prefix the bitmap of its ancestors too, so the
 * longest match is the union of every matching prefix), a trie of reversed binary suffixes
 * (a suffix of the path is a prefix of the reversed path), a port array, cgroup-id hash maps.
 * The binary maps also hold the rules a binary is an exception for (exceptBinary): they are
 * removed from the operation's rules. Exec rules may also select the parent's binary (the same
 * three maps, cached per parent process), capabilities (a bitmap per capability), a network
 * socket as stdio, and strings of the command line (scanned at sched_process_exec only); the
 * listen hooks match the socket's own address.
 *
 * Verification. The selectors and the decision are global functions (verified once each, for
 * every program type that calls them) so that each program stays far below the verifier's
 * limits on every kernel of the matrix (6.1 to 7.3, TestEveryProgramVerifies); they take the
 * per-CPU scratch from its map, and the signals are sent by the inlined caller, where the hook
 * is a constant (cgroup programs have no bpf_send_signal).
 *
 * Verdicts come from bitmaps too: the header's deny, kill and signal bitmaps hold the rules in
 * enforce mode with that effect, so an operation is denied when any matching rule denies, even
 * beyond the POL_MAX_DECISIONS rules that get a record. Rate limits (a GCRA token bucket per
 * rule, osec_pol_rate) bound the decision records of a rule, never its enforcement.
 *
 * Exec decisions at sched_process_exec write no record of their own: pol_decide leaves them
 * in osec_exec_dec and the process sensor's exec program, which runs right after on the same
 * CPU (the receiver attaches this program first), appends them to the exec record. A record
 * written into the ring buffer is most of a decision's cost (its cache lines were last written
 * by the reader on another CPU); this way a decision costs a few stores.
 *
 * Suppress (exec rules, at sched_process_exec only) writes no record: it mutes the process in
 * osec_mute (lib/common.h), which every sensor's emit reads; the process sensor flags the
 * exec record that follows (this program runs first: the receiver attaches it first) and
 * carries the mute to forked children until they exec.
 *
 * Workloads. osec_pol_cgroups maps a cgroup id to the rules that select exactly that cgroup
 * (self: host processes, a container's own cgroup) and those that select it and everything
 * below it (subtree: cgroup paths); the current cgroup and its ancestors (up to POL_CG_DEPTH
 * levels) are looked up, so a cgroup created below a selected one is selected at once.
 *
 * Atomic swap. Every map that a set fills exists twice, one per generation (0, 1): the rule
 * and header arrays are indexed by generation, the variable-size maps are arrays of maps whose
 * slot gen holds that generation's inner map (created by the loader at the size of the set).
 * The programs read osec_pol_active once per operation and only use that generation's maps.
 * The loader validates a new set completely, fills the inactive generation (new inner maps,
 * header, rules, ports), and then writes osec_pol_active: one 8-byte array update, so every
 * operation sees either the whole old set or the whole new one, never neither. The previous
 * generation is left intact until the next Apply rewrites it.
 *
 * Backends (the hook of each rule, chosen by the loader per kernel and reported per rule):
 *   lsm/bprm_check_security, lsm/file_open, lsm/socket_connect, lsm/socket_bind,
 *   lsm/socket_sendmsg: deny returns -EPERM, the operation does not happen;
 *   cgroup/connect4/6, bind4/6, sendmsg4/6 on the cgroup2 root: deny returns 0 (EPERM);
 *   lsm/socket_listen: deny returns -EPERM; without BPF LSM tp_btf/inet_sock_set_state (the
 *   move to TCP_LISTEN, inside listen()): kill, signal, audit;
 *   tp_btf/sched_process_exec: kill and signal (bpf_send_signal). The exec has committed: the
 *   new image is mapped but SIGKILL is delivered before it returns to user space, so it never
 *   runs an instruction; what the exec did before (the open of the binary, setuid credentials
 *   installed) is not undone.
 *   lsm/path_unlink, path_rename, path_chmod, path_chown, path_truncate, path_link,
 *   path_symlink, path_mkdir, path_rmdir (POL_HOOK_PATH_LSM, needs CONFIG_SECURITY_PATH): the
 *   file operations beyond open; deny returns -EPERM and the operation does not happen. The
 *   path is the dentry's under its parent directory's mount (as file_open builds it). rename
 *   and link match on the old or the new name: the record carries the old one when it matched,
 *   else the new one with POL_EV_PATH_NEW. symlink counts as link (bit 9, a new name);
 *   path_truncate is truncate(2) (and, on kernels without security_file_truncate, before 6.2,
 *   O_TRUNC opens and ftruncate too, so a truncate rule may then decide twice on one O_TRUNC
 *   open). Without BPF LSM these rules are refused: a tracepoint would see the operation after
 *   it happened, so there is no kill fallback.
 *
 * The path hooks and both privilege-change backends are loaded and attached by the first set
 * that has rules there (internal/enforce lazyHooks), not with the others.
 *
 * Privilege changes (process.privilege_change). A change to X is a setuid-family call after
 * which the real uid, the effective uid or the fs uid is X and differs from its value before
 * (the saved uid alone does not count: using it later to become X is itself a change). A
 * toUIDs rule matches when X is one of its uids; a rule without toUIDs matches every change.
 * The uid and euid selectors and the binary match the process as it was before the change (who
 * asks). The record's uid, euid and fsuid are the new credentials, old_uid, old_euid and
 * old_fsuid the previous ones (POL_EV_CREDS). Backends:
 *   lsm/task_fix_setuid (POL_HOOK_SETUID_LSM): called once the kernel has checked the change
 *   and before it commits the new credentials; deny returns -EPERM: setuid, setreuid and
 *   setresuid fail with EPERM and nothing changes (setfsuid cannot fail: it returns the old
 *   fsuid and the fsuid stays).
 *   tracepoint/syscalls/sys_exit_setuid, setreuid, setresuid, setfsuid (POL_HOOK_SETUID_TP),
 *   with sys_enter_* stashing the thread's credentials: audit, kill and signal after the
 *   change. SIGKILL is sent before the syscall returns to user space, so the process never
 *   runs an instruction with the new uid; the change itself happened (deny is only possible as
 *   fallback: kill). Only the calling thread is evaluated: a multi-threaded process that
 *   changes every thread (glibc, Go) decides once per thread. */

#include "common.h"
#include "bpf_endian.h"
#include "file.h"
#include "policy_events.h"

#define POL_MAX_DECISIONS EXEC_DECISIONS_MAX /* records per operation; 8 */
#define POL_CG_DEPTH 16
#define POL_PORTS 65536

#define EPERM 1
#define SIGKILL 9
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_MPTCP 262
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2

/* Referenced so that their BTF reaches bpf2go. */
const struct policy_event *unused_policy_event __attribute__((unused));
const enum pol_hook *unused_pol_hook __attribute__((unused));
const enum pol_action *unused_pol_action __attribute__((unused));
const enum pol_outcome *unused_pol_outcome __attribute__((unused));
const enum pol_rule_flags *unused_pol_rule_flags __attribute__((unused));
const enum pol_need *unused_pol_need __attribute__((unused));
const enum pol_event_flags *unused_pol_event_flags __attribute__((unused));
const struct pol_lpm4 *unused_pol_lpm4 __attribute__((unused));
const struct pol_lpm6 *unused_pol_lpm6 __attribute__((unused));
const struct pol_cgroup *unused_pol_cgroup __attribute__((unused));
const struct pol_bits *unused_pol_bits __attribute__((unused));
const enum pol_net_flags *unused_pol_net_flags __attribute__((unused));
const struct pol_net16 *unused_pol_net16 __attribute__((unused));
const struct pol_netn *unused_pol_netn __attribute__((unused));
const struct pol_rule *unused_pol_rule __attribute__((unused));
const struct pol_active *unused_pol_active __attribute__((unused));
const struct pol_binval *unused_pol_binval __attribute__((unused));
const struct pol_args *unused_pol_args __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pol_active);
} osec_pol_active SEC(".maps");

/* Mmapable only for its alignment: the values then start on a page, so the layout of struct
 * pol_hdr (need[] and the generation on the first line) is the layout of its cache lines. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct pol_hdr);
} osec_pol_hdr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * POL_MAX_RULES);
	__type(key, __u32);
	__type(value, struct pol_rule);
} osec_pol_rules SEC(".maps");

/* GCRA: the theoretical arrival time of each rule's next decision record (bpf_ktime_get_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * POL_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} osec_pol_rate SEC(".maps");

/* Rules by port (network events), [gen * 65536 + port]. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * POL_PORTS);
	__type(key, __u32);
	__type(value, struct pol_bits);
} osec_pol_ports SEC(".maps");

/* CIDRs are looked up without the LPM tries, whose lookup walks one node per branching prefix on
 * the way (with 10,000 CIDRs near the address, ~10 nodes): one read per /16, then one per level
 * where the CIDRs around the address part or end, then the rules. The number of CIDRs does not
 * matter, only how the ones around the address nest: 10,000 CIDRs around it cost the reads of
 * one of them, or a node more where they part above that one's node.
 *
 * osec_pol_net4[gen * 65536 + hi] and osec_pol_net6[gen * 65536 + hi], hi an address's first 16
 * bits (struct pol_net16): the rules of the longest CIDR of /16 or shorter covering the /16, and
 * the first node of the CIDRs longer than /16 in it.
 * osec_pol_netx[gen] (struct pol_netn by index): the nodes of both families, each a level of a
 * multibit trie of 8 bits a level, path-compressed: a node's level is the first byte after its
 * parent's where its CIDRs part or one of them ends; an address that differs from the node's
 * prefix in a byte skipped has no longer CIDR than the parent's slot says. Per value of the
 * byte, the rules of the longest CIDR covering the prefix with it, and the node below. IPv4
 * addresses are mapped into IPv6 (::ffff:a.b.c.d): their nodes are at the last two levels.
 * osec_pol_net4val[gen * 256 + i], osec_pol_net6val likewise: the rules, by index, the distinct
 * sets of rules of a family's CIDRs (the compiler closes each CIDR's rules over the shorter
 * CIDRs covering it), at most 255, a few lines that stay in the cache.
 * The /16s whose nodes do not fit the budget, and all of a family whose CIDRs carry more than
 * 255 sets of rules, are searched in the trie (POL_NET_TRIE). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 65536);
	__type(key, __u32);
	__type(value, struct pol_net16);
} osec_pol_net4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 65536);
	__type(key, __u32);
	__type(value, struct pol_net16);
} osec_pol_net6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 256);
	__type(key, __u32);
	__type(value, struct pol_bits);
} osec_pol_net4val SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * 256);
	__type(key, __u32);
	__type(value, struct pol_bits);
} osec_pol_net6val SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pol_stats);
} osec_pol_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pol_bincache);
} osec_pol_bincache SEC(".maps");

/* The parent binary bitmap of a process, by the parent's tgid (a shell forking many children
 * walks its path once per set). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct pol_bincache);
} osec_pol_parcache SEC(".maps");

/* The binary bitmap of a process, by tgid, valid for the same executable, process instance
 * and set (seq). */
struct pol_bincache {
	__u64 exe;
	__u64 start;
	__u64 seq;
	struct pol_bits bits;
};

/* Per-CPU scratch: the record being built, the exact-match key and the reversed key of the
 * suffix trie. */
struct pol_work {
	struct policy_event ev;
	struct file_key xkey;
	struct file_key rkey;
	char args[POL_ARGS_BYTES + POL_NEEDLE_BYTES]; /* the tail: room for the 8-byte loads */
	struct pol_bincache bc; /* a binary cache entry being written */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pol_work);
} osec_pol_work SEC(".maps");

/* Argument strings of each generation (written by the loader before the header). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct pol_args);
} osec_pol_args SEC(".maps");

/* Per-generation inner maps (arrays of maps, slot = generation). */
#define POL_INNER(name, mtype, ktype, vtype, mflags)                                             \
	struct name {                                                                            \
		__uint(type, mtype);                                                             \
		__uint(max_entries, 1);                                                          \
		__uint(map_flags, mflags);                                                       \
		__type(key, ktype);                                                              \
		__type(value, vtype);                                                            \
	}

POL_INNER(pol_path_lpm, BPF_MAP_TYPE_LPM_TRIE, struct file_key, struct pol_bits, BPF_F_NO_PREALLOC);
POL_INNER(pol_path_hash, BPF_MAP_TYPE_HASH, struct file_key, struct pol_bits, 0);
POL_INNER(pol_bin_lpm, BPF_MAP_TYPE_LPM_TRIE, struct file_key, struct pol_binval, BPF_F_NO_PREALLOC);
POL_INNER(pol_bin_hash, BPF_MAP_TYPE_HASH, struct file_key, struct pol_binval, 0);
POL_INNER(pol_lpm4_trie, BPF_MAP_TYPE_LPM_TRIE, struct pol_lpm4, struct pol_bits, BPF_F_NO_PREALLOC);
POL_INNER(pol_lpm6_trie, BPF_MAP_TYPE_LPM_TRIE, struct pol_lpm6, struct pol_bits, BPF_F_NO_PREALLOC);
/* Sized per set: BPF_F_INNER_MAP lets an inner array's size differ from this template's. */
POL_INNER(pol_net_nodes, BPF_MAP_TYPE_ARRAY, __u32, struct pol_netn, BPF_F_INNER_MAP);
POL_INNER(pol_cg_hash, BPF_MAP_TYPE_HASH, __u64, struct pol_cgroup, 0);
POL_INNER(pol_id_hash, BPF_MAP_TYPE_HASH, __u32, struct pol_bits, 0);

#define POL_OUTER(name, inner)                                                                   \
	struct {                                                                                 \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                        \
		__uint(max_entries, 2);                                                          \
		__type(key, __u32);                                                              \
		__array(values, struct inner);                                                   \
	} name SEC(".maps")

POL_OUTER(osec_pol_bin_exact, pol_bin_hash);
POL_OUTER(osec_pol_bin_prefix, pol_bin_lpm);
POL_OUTER(osec_pol_bin_suffix, pol_bin_lpm); /* keys reversed: a suffix is a prefix of the reversed path */
POL_OUTER(osec_pol_par_exact, pol_bin_hash);  /* parent binary selectors: the same three kinds */
POL_OUTER(osec_pol_par_prefix, pol_bin_lpm);
POL_OUTER(osec_pol_par_suffix, pol_bin_lpm);
POL_OUTER(osec_pol_path_exact, pol_path_hash);
POL_OUTER(osec_pol_path_prefix, pol_path_lpm);
POL_OUTER(osec_pol_cidr4, pol_lpm4_trie);
POL_OUTER(osec_pol_cidr6, pol_lpm6_trie);
POL_OUTER(osec_pol_netx, pol_net_nodes); /* the CIDR lookup's nodes (above) */
POL_OUTER(osec_pol_cgroups, pol_cg_hash);
POL_OUTER(osec_pol_uids, pol_id_hash);
POL_OUTER(osec_pol_euids, pol_id_hash);
POL_OUTER(osec_pol_touids, pol_id_hash);

/* Credentials of a privilege change. */
struct pol_creds {
	__u32 uid;
	__u32 euid;
	__u32 fsuid;
	__u32 pad;
};

/* The credentials of a thread in a setuid-family syscall, from sys_enter to sys_exit (by
 * pid_tgid); LRU: a thread that never returns leaves no permanent entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct pol_creds);
} osec_pol_setuid_old SEC(".maps");

/* Bitmaps */

static __always_inline void bits_and(struct pol_bits *a, const struct pol_bits *b)
{
	for (int i = 0; i < POL_RULE_WORDS; i++)
		a->w[i] &= b->w[i];
}

static __always_inline void bits_or(struct pol_bits *a, const struct pol_bits *b)
{
	for (int i = 0; i < POL_RULE_WORDS; i++)
		a->w[i] |= b->w[i];
}

static __always_inline bool bits_any(const struct pol_bits *a)
{
	return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) != 0;
}

/* bits_need: some rule in cand has a constraint (is not in any). */
static __always_inline bool bits_need(const struct pol_bits *cand, const struct pol_bits *any)
{
	__u64 v = 0;

	for (int i = 0; i < POL_RULE_WORDS; i++)
		v |= cand->w[i] & ~any->w[i];
	return v != 0;
}

static __always_inline bool bits_meet(const struct pol_bits *a, const struct pol_bits *b)
{
	__u64 v = 0;

	for (int i = 0; i < POL_RULE_WORDS; i++)
		v |= a->w[i] & b->w[i];
	return v != 0;
}

/* bit_index of a power of two. */
static __always_inline __u32 bit_index(__u64 v)
{
	__u32 n = 0;

	if (v >> 32) {
		n += 32;
		v >>= 32;
	}
	if (v >> 16) {
		n += 16;
		v >>= 16;
	}
	if (v >> 8) {
		n += 8;
		v >>= 8;
	}
	if (v >> 4) {
		n += 4;
		v >>= 4;
	}
	if (v >> 2) {
		n += 2;
		v >>= 2;
	}
	if (v >> 1)
		n += 1;
	return n;
}

/* pop_rule removes the lowest rule from b and returns its number, -1 when b is empty. */
static __always_inline int pop_rule(struct pol_bits *b)
{
	for (int i = 0; i < POL_RULE_WORDS; i++) {
		__u64 w = b->w[i];

		if (w) {
			b->w[i] = w & (w - 1);
			return i * 64 + bit_index(w & -w);
		}
	}
	return -1;
}

static __always_inline struct pol_stats *pol_stats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&osec_pol_stats, &zero);
}

static __always_inline struct pol_work *pol_work(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&osec_pol_work, &zero);
}

/* begin returns the active generation's header and the rules of hook, or NULL when no rule of
 * the active set is evaluated at hook. */
static __always_inline struct pol_hdr *begin(__u32 hook, __u32 *gen, struct pol_bits *cand)
{
	__u32 zero = 0;
	struct pol_active *a = bpf_map_lookup_elem(&osec_pol_active, &zero);
	struct pol_hdr *h;
	struct pol_stats *st;

	if (!a || !a->on)
		return NULL;
	*gen = a->gen & 1;
	h = bpf_map_lookup_elem(&osec_pol_hdr, gen);
	if (!h || hook >= POL_HOOK_MAX)
		return NULL;
	*cand = h->hook[hook];
	if (!bits_any(cand))
		return NULL;
	st = pol_stats();
	if (st)
		st->hook[hook].evaluated++;
	return h;
}

/* needs: whether some rule of hook uses the header's set what (enum pol_need); when not, the
 * set cannot change the candidates and is not read. */
static __always_inline bool needs(struct pol_hdr *h, __u32 hook, __u16 what)
{
	return h->need[hook & (POL_NEED_HOOKS - 1)] & what;
}

/* Selectors */

static __always_inline void and_workload(__u32 gen, struct pol_hdr *h, struct pol_bits *cand)
{
	struct pol_bits wl = h->all_workloads;
	struct pol_cgroup *v;
	void *cg;
	__u64 id;

	if (!bits_need(cand, &wl))
		return;
	cg = bpf_map_lookup_elem(&osec_pol_cgroups, &gen);
	if (cg) {
		id = bpf_get_current_cgroup_id();
		v = bpf_map_lookup_elem(cg, &id);
		if (v) {
			bits_or(&wl, &v->self);
			bits_or(&wl, &v->subtree);
		}
		for (int l = 0; l < POL_CG_DEPTH; l++) {
			__u64 a = bpf_get_current_ancestor_cgroup_id(l);

			if (!a || a == id)
				break;
			v = bpf_map_lookup_elem(cg, &a);
			if (v)
				bits_or(&wl, &v->subtree);
		}
	}
	bits_and(cand, &wl);
}

/* and_ids_of applies the uid and euid selectors to the given ids. */
static __always_inline void and_ids_of(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				       __u32 uid, __u32 euid)
{
	struct pol_bits *v, m;
	void *in;

	if (bits_need(cand, &h->any_uid)) {
		m = h->any_uid;
		in = bpf_map_lookup_elem(&osec_pol_uids, &gen);
		if (in && (v = bpf_map_lookup_elem(in, &uid)))
			bits_or(&m, v);
		bits_and(cand, &m);
	}
	if (bits_need(cand, &h->any_euid)) {
		m = h->any_euid;
		in = bpf_map_lookup_elem(&osec_pol_euids, &gen);
		if (in && (v = bpf_map_lookup_elem(in, &euid)))
			bits_or(&m, v);
		bits_and(cand, &m);
	}
}

static __always_inline void and_ids(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				    struct task_struct *task)
{
	struct pol_bits *v, m;
	__u32 uid, euid;
	void *in;

	if (bits_need(cand, &h->any_uid)) {
		uid = BPF_CORE_READ(task, cred, uid.val);
		m = h->any_uid;
		in = bpf_map_lookup_elem(&osec_pol_uids, &gen);
		if (in && (v = bpf_map_lookup_elem(in, &uid)))
			bits_or(&m, v);
		bits_and(cand, &m);
	}
	if (bits_need(cand, &h->any_euid)) {
		euid = BPF_CORE_READ(task, cred, euid.val);
		m = h->any_euid;
		in = bpf_map_lookup_elem(&osec_pol_euids, &gen);
		if (in && (v = bpf_map_lookup_elem(in, &euid)))
			bits_or(&m, v);
		bits_and(cand, &m);
	}
}

/* build_path writes the path of (dentry, mnt) at b->data[start] and the prefix key w->key; the
 * exact key pw->xkey when exact. Returns its length, -1 when it cannot be matched. */
static __always_inline int build_path(struct file_buf *b, struct file_work *w, struct pol_work *pw,
				      __u32 start, struct path *p)
{
	__u32 len;

	cur_reset(w, start);
	if (put_path(b, w, (__u64)p->dentry, (__u64)p->mnt) || (w->c.trunc & TRUNC_DEPTH))
		return -1;
	len = w->c.off - w->c.start;
	if (len == 0) { /* the root */
		b->data[start & FDATA_MASK] = '/';
		len = 1;
	}
	make_key(&w->key, b->data, start, len);
	__builtin_memset(&pw->xkey, 0, sizeof(pw->xkey));
	if (len < POL_KEY_BYTES) {
		barrier_var(len);
		bpf_probe_read_kernel(pw->xkey.data, len & (POL_KEY_BYTES - 1), &b->data[start & FDATA_MASK]);
		pw->xkey.prefixlen = len * 8;
	}
	return len;
}

/* path_bits looks the keys up in the exact and prefix maps of a generation. */
static __always_inline void path_bits(struct file_work *w, struct pol_work *pw, void *exact_outer,
				      void *prefix_outer, __u32 gen, struct pol_bits *m)
{
	struct pol_bits *v;
	void *in;

	in = bpf_map_lookup_elem(exact_outer, &gen);
	if (in && pw->xkey.prefixlen && (v = bpf_map_lookup_elem(in, &pw->xkey)))
		bits_or(m, v);
	in = bpf_map_lookup_elem(prefix_outer, &gen);
	if (in && (v = bpf_map_lookup_elem(in, &w->key)))
		bits_or(m, v);
}

static __always_inline void binval_or(struct pol_bits *m, struct pol_bits *ex, struct pol_binval *v)
{
	bits_or(m, &v->match);
	bits_or(ex, &v->except);
}

/* reverse_key builds pw->rkey: the last (at most 255) bytes of the path at b->data[start],
 * last byte first. A global function, verified once: its loop is not re-walked on every path
 * of the programs that call it (the exec program reached the verifier's 1M-instruction limit
 * on Linux 7.3 otherwise). */
__noinline int pol_reverse_key(struct pol_work *pw, struct file_buf *b, __u32 start, __u32 len)
{
	__u32 n = len, end = start + len - 1;

	if (!pw || !b)
		return -1;
	if (n > POL_KEY_BYTES - 1)
		n = POL_KEY_BYTES - 1;
	for (__u32 i = 0; i < POL_KEY_BYTES - 1; i++) {
		if (i >= n)
			break;
		pw->rkey.data[i & (POL_KEY_BYTES - 1)] = b->data[(end - i) & FDATA_MASK];
	}
	pw->rkey.prefixlen = n * 8;
	return 0;
}

/* copy_path puts the path at b->data[start] into the record. */
static __always_inline void copy_path(struct policy_event *e, struct file_buf *b, __u32 start, int len)
{
	__u32 n = len;

	if (len <= 0)
		return;
	e->flags |= POL_EV_PATH;
	if (n > POL_KEY_BYTES - 1) {
		n = POL_KEY_BYTES - 1;
		e->flags |= POL_EV_PATH_TRUNCATED;
	}
	barrier_var(n);
	n &= POL_KEY_BYTES - 1;
	bpf_probe_read_kernel(e->path, n, &b->data[start & FDATA_MASK]);
	e->path_len = n;
}

/* bin_lookup looks the path just built (build_path at FEXE_OFF, len bytes) up in a set of
 * binary maps (exact, prefix, reversed suffix) and adds the matches and exceptions. */
static __always_inline void bin_lookup(void *exact_outer, void *prefix_outer, void *suffix_outer, bool suffix,
				       __u32 gen, struct file_buf *b, struct file_work *w, struct pol_work *pw,
				       __u32 len, struct pol_bits *m, struct pol_bits *ex)
{
	struct pol_binval *bv;
	void *in;

	in = bpf_map_lookup_elem(exact_outer, &gen);
	if (in && pw->xkey.prefixlen && (bv = bpf_map_lookup_elem(in, &pw->xkey)))
		binval_or(m, ex, bv);
	in = bpf_map_lookup_elem(prefix_outer, &gen);
	if (in && (bv = bpf_map_lookup_elem(in, &w->key)))
		binval_or(m, ex, bv);
	if (suffix) {
		pol_reverse_key(pw, b, FEXE_OFF, len);
		in = bpf_map_lookup_elem(suffix_outer, &gen);
		if (in && (bv = bpf_map_lookup_elem(in, &pw->rkey)))
			binval_or(m, ex, bv);
	}
}

/* and_binary applies the binary selectors to the executable file exe; exec (a constant) says
 * the path goes into the record (the exec's own binary). Other hooks use the per-process cache. */
static __always_inline void and_binary(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				       struct file *exe, struct pol_work *pw, bool exec)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct pol_bincache *c = NULL;
	struct pol_bits m = h->any_binary, ex = {};
	struct path p = {};
	__u64 start = 0;
	__u32 tgid = 0;
	int len;

	if (!exec && !bits_need(cand, &h->any_binary) && !bits_meet(cand, &h->bin_except))
		return;
	if (!b || !w || !exe) {
		bits_and(cand, &m);
		return;
	}
	if (!exec) {
		tgid = BPF_CORE_READ(task, tgid);
		start = BPF_CORE_READ(task, group_leader, start_boottime);
		c = bpf_map_lookup_elem(&osec_pol_bincache, &tgid);
		if (c && c->exe == (__u64)exe && c->start == start && c->seq == h->seq) {
			bits_and(cand, &c->bits);
			return;
		}
	}
	BPF_CORE_READ_INTO(&p, exe, f_path);
	len = build_path(b, w, pw, FEXE_OFF, &p);
	if (len > 0) {
		bin_lookup(&osec_pol_bin_exact, &osec_pol_bin_prefix, &osec_pol_bin_suffix,
			   bits_any(&h->bin_suffix), gen, b, w, pw, len, &m, &ex);
		for (int i = 0; i < POL_RULE_WORDS; i++)
			m.w[i] &= ~ex.w[i];
		if (exec)
			copy_path(&pw->ev, b, FEXE_OFF, len);
	} else {
		struct pol_stats *st = pol_stats();

		if (st)
			st->path_unmatchable++;
	}
	if (!exec) {
		pw->bc.exe = (__u64)exe; /* the new entry is built in the scratch: the stack is tight */
		pw->bc.start = start;
		pw->bc.seq = h->seq;
		pw->bc.bits = m;
		bpf_map_update_elem(&osec_pol_bincache, &tgid, &pw->bc, BPF_ANY);
	}
	bits_and(cand, &m);
}

/* and_parent applies the parent binary selectors: the executable of the task's real parent
 * (for an exec, the process that forked the one executing; a reparented process's new
 * parent). A parent without an executable (a kernel thread) matches no parent selector. */
static __always_inline void and_parent(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				       struct task_struct *task, struct pol_work *pw)
{
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct pol_bits m = h->any_parent, ex = {};
	struct pol_bincache *c;
	struct task_struct *parent;
	struct path p = {};
	struct file *exe;
	__u64 start;
	__u32 ptgid;
	int len;

	if (!bits_need(cand, &h->any_parent))
		return;
	parent = BPF_CORE_READ(task, real_parent);
	exe = BPF_CORE_READ(parent, mm, exe_file);
	ptgid = BPF_CORE_READ(parent, tgid);
	start = BPF_CORE_READ(parent, group_leader, start_boottime);
	c = bpf_map_lookup_elem(&osec_pol_parcache, &ptgid);
	if (c && c->exe == (__u64)exe && c->start == start && c->seq == h->seq) {
		bits_and(cand, &c->bits);
		return;
	}
	if (exe && b && w) {
		BPF_CORE_READ_INTO(&p, exe, f_path);
		len = build_path(b, w, pw, FEXE_OFF, &p);
		if (len > 0) {
			bin_lookup(&osec_pol_par_exact, &osec_pol_par_prefix, &osec_pol_par_suffix,
				   bits_any(&h->par_suffix), gen, b, w, pw, len, &m, &ex);
		} else {
			struct pol_stats *st = pol_stats();

			if (st)
				st->path_unmatchable++;
		}
	}
	for (int i = 0; i < POL_RULE_WORDS; i++)
		m.w[i] &= ~ex.w[i];
	pw->bc.exe = (__u64)exe;
	pw->bc.start = start;
	pw->bc.seq = h->seq;
	pw->bc.bits = m;
	bpf_map_update_elem(&osec_pol_parcache, &ptgid, &pw->bc, BPF_ANY);
	bits_and(cand, &m);
}

/* pol_caps adds to m the rules that a task with the effective capabilities eff satisfies.
 * A global function, verified once (see pol_reverse_key). */
__noinline int pol_caps(struct pol_hdr *h, __u64 eff, struct pol_bits *m)
{
	if (!h || !m)
		return -1;
	for (int c = 0; c < POL_CAPS; c++) {
		__u64 on = -((eff >> c) & 1); /* all ones when the task has capability c; no branch */

		for (int i = 0; i < POL_RULE_WORDS; i++)
			m->w[i] |= h->cap[c].w[i] & on;
	}
	return 0;
}

/* and_caps applies the capability selectors: the rules whose capabilities the task's
 * effective set has any of. */
static __always_inline void and_caps(struct pol_hdr *h, struct pol_bits *cand, struct task_struct *task)
{
	const struct cred *cred;
	struct pol_bits m;
	__u64 eff;

	if (!bits_need(cand, &h->any_cap))
		return;
	m = h->any_cap;
	cred = BPF_CORE_READ(task, cred);
	/* kernel_cap_t: a u64 since 6.3, u32[2] before: the same 8 little-endian bytes */
	eff = 0;
	bpf_core_read(&eff, sizeof(eff), &cred->cap_effective);
	pol_caps(h, eff, &m);
	bits_and(cand, &m);
}

/* stdio_inet reports whether the task's fd 0, 1 or 2 is an AF_INET or AF_INET6 socket. */
static __always_inline bool stdio_inet(struct task_struct *task)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fd;
	unsigned int max;

	if (!fdt)
		return false;
	fd = BPF_CORE_READ(fdt, fd);
	max = BPF_CORE_READ(fdt, max_fds);
	for (int i = 0; i < 3; i++) {
		struct file *f = NULL;
		struct socket *sock;
		__u16 mode, family;

		if (i >= max)
			break;
		bpf_probe_read_kernel(&f, sizeof(f), &fd[i]);
		if (!f)
			continue;
		mode = BPF_CORE_READ(f, f_inode, i_mode);
		if ((mode & S_IFMT) != S_IFSOCK)
			continue;
		sock = BPF_CORE_READ(f, private_data);
		family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
		if (family == AF_INET || family == AF_INET6)
			return true;
	}
	return false;
}

static __always_inline void and_stdio(struct pol_hdr *h, struct pol_bits *cand, struct task_struct *task)
{
	if (!bits_meet(cand, &h->stdio_socket) || stdio_inet(task))
		return;
	for (int i = 0; i < POL_RULE_WORDS; i++)
		cand->w[i] &= ~h->stdio_socket.w[i];
}

/* Argument scan. The command line is read into pw->args with its NULs (argument separators)
 * turned into spaces; then bpf_loop calls scan_at for every position: a position whose byte
 * pair begins no needle costs one bitmap test, the others compare the needles not found yet,
 * eight bytes at a time and without branches (the verifier sees one straight path). */
struct args_scan {
	struct pol_work *pw;
	struct pol_args *pa;
	__u32 len;
	__u32 found; /* needle k found: bit k */
	__u32 all;   /* every needle */
};

static __always_inline __u64 load8(const char *p)
{
	return *(const __u64 *)p; /* unaligned loads are fine on x86-64 and arm64 */
}

/* pol_match_at returns the needles of pa that occur at pos of the command line (avail bytes
 * left from there). A global function: the verifier walks its loops once, not on every pass
 * over the bpf_loop callback (Linux 6.8+ verifies callbacks until their states converge). */
__noinline __u32 pol_match_at(struct pol_work *pw, struct pol_args *pa, __u32 pos, __u32 avail)
{
	__u32 n, found = 0;

	if (!pw || !pa)
		return 0;
	pos &= POL_ARGS_BYTES - 1;
	n = pa->n;
	for (__u32 k = 0; k < POL_MAX_NEEDLES; k++) {
		struct pol_needle *nd = &pa->needle[k];
		__u64 diff = 0;
		__u32 nl;

		if (k >= n)
			break;
		nl = nd->len;
		if (nl < 2 || nl > POL_NEEDLE_BYTES || nl > avail)
			continue;
		for (__u32 w = 0; w < POL_NEEDLE_BYTES / 8; w++) {
			__u32 rem = nl > w * 8 ? nl - w * 8 : 0;
			__u64 mask = rem >= 8 ? ~0ULL : (1ULL << (rem * 8)) - 1;

			diff |= (load8(&pw->args[pos + w * 8]) ^ load8((const char *)&nd->bytes[w * 8])) & mask;
		}
		if (!diff)
			found |= 1U << k;
	}
	return found;
}

static long scan_at(__u64 i, void *vctx)
{
	struct args_scan *x = vctx;
	struct pol_work *pw = x->pw;
	struct pol_args *pa = x->pa;
	__u32 len = x->len, g, pos;

	if (!pw || !pa || i + 1 >= len)
		return 1;
	pos = i & (POL_ARGS_BYTES - 1);
	g = (__u8)pw->args[pos] | (__u32)(__u8)pw->args[pos + 1] << 8;
	if (!((pa->grams[(g >> 6) & (POL_GRAM_WORDS - 1)] >> (g & 63)) & 1))
		return 0;
	x->found |= pol_match_at(pw, pa, pos, len - i);
	return x->found == x->all;
}

/* and_args applies the argument selectors (sched_process_exec only: the new image's command
 * line is in its memory): a rule matches when every one of its strings occurs in the first
 * POL_ARGS_BYTES bytes of the command line. A command line that cannot be read matches none. */
static __always_inline void and_args(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				     struct task_struct *task, struct pol_work *pw)
{
	struct pol_bits fail = h->args;
	struct args_scan x = {};
	struct pol_args *pa;
	struct mm_struct *mm;
	unsigned long start, end;
	__u64 len;
	__u32 n;

	if (!bits_meet(cand, &h->args))
		return;
	pa = bpf_map_lookup_elem(&osec_pol_args, &gen);
	mm = BPF_CORE_READ(task, mm);
	if (!pa || !mm)
		goto out;
	start = BPF_CORE_READ(mm, arg_start);
	end = BPF_CORE_READ(mm, arg_end);
	if (end <= start)
		goto out;
	len = end - start;
	if (len > POL_ARGS_BYTES) {
		struct pol_stats *st = pol_stats();

		if (st)
			st->args_truncated++;
		len = POL_ARGS_BYTES;
	}
	barrier_var(len);
	if (len == 0 || len > POL_ARGS_BYTES || bpf_probe_read_user(pw->args, len, (void *)start))
		goto out;
	/* NUL -> ' ', eight bytes at a time: z has 0x80 in each zero byte, 0x80 >> 2 = ' ' */
	for (__u32 w = 0; w < POL_ARGS_BYTES / 8; w++) {
		__u64 v, z;

		if (w * 8 >= len)
			break;
		v = load8(&pw->args[w * 8]);
		z = ~(((v & 0x7f7f7f7f7f7f7f7fULL) + 0x7f7f7f7f7f7f7f7fULL) | v | 0x7f7f7f7f7f7f7f7fULL);
		*(__u64 *)&pw->args[w * 8] = v | (z >> 2);
	}
	n = pa->n;
	if (n > POL_MAX_NEEDLES)
		n = POL_MAX_NEEDLES;
	x.pw = pw;
	x.pa = pa;
	x.len = len;
	x.all = n >= 32 ? 0xffffffffU : (1U << n) - 1;
	bpf_loop(len, scan_at, &x, 0);
	__builtin_memset(&fail, 0, sizeof(fail));
	for (__u32 k = 0; k < POL_MAX_NEEDLES; k++) {
		__u64 missing = ((x.found >> k) & 1) - 1ULL; /* all ones when needle k was not found */

		for (int i = 0; i < POL_RULE_WORDS; i++)
			fail.w[i] |= pa->needle[k].rules.w[i] & missing;
	}
out:
	for (int i = 0; i < POL_RULE_WORDS; i++)
		cand->w[i] &= ~fail.w[i];
}

/* Global wrappers of the selectors: each is verified once, on its own, instead of on every path
 * of every program that reaches it (the exec program exceeded the verifier's limits on Linux
 * 7.3 with everything inlined). Pointers to kernel objects travel as scalars. */
__noinline int pol_workload(struct pol_hdr *h, __u32 gen, struct pol_bits *cand)
{
	if (h && cand)
		and_workload(gen, h, cand);
	return 0;
}

/* The wrappers below take the per-CPU scratch from its map, not as an argument: inside a
 * global function a pointer argument is plain memory, which Linux 6.1's verifier does not
 * accept as a map key or value (newer ones do); a pointer from the map lookup it accepts. */
__noinline int pol_binary_exec(struct pol_hdr *h, __u32 gen, struct pol_bits *cand, __u64 exe)
{
	struct pol_work *pw = pol_work();

	if (h && cand && pw)
		and_binary(gen, h, cand, (struct file *)exe, pw, true);
	return 0;
}

__noinline int pol_binary(struct pol_hdr *h, __u32 gen, struct pol_bits *cand, __u64 exe)
{
	struct pol_work *pw = pol_work();

	if (h && cand && pw)
		and_binary(gen, h, cand, (struct file *)exe, pw, false);
	return 0;
}

__noinline int pol_parent(struct pol_hdr *h, __u32 gen, struct pol_bits *cand)
{
	struct pol_work *pw = pol_work();

	if (h && cand && pw)
		and_parent(gen, h, cand, (struct task_struct *)bpf_get_current_task(), pw);
	return 0;
}

__noinline int pol_stdio(struct pol_hdr *h, struct pol_bits *cand)
{
	if (h && cand)
		and_stdio(h, cand, (struct task_struct *)bpf_get_current_task());
	return 0;
}

__noinline int pol_args_sel(struct pol_hdr *h, __u32 gen, struct pol_bits *cand)
{
	struct pol_work *pw = pol_work();

	if (h && cand && pw)
		and_args(gen, h, cand, (struct task_struct *)bpf_get_current_task(), pw);
	return 0;
}

static __always_inline bool is_v4mapped(const __u8 *a)
{
	__u64 lo;
	__u16 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 2);
	return lo == 0 && mid == 0 && a[10] == 0xff && a[11] == 0xff;
}

static __always_inline __u32 popcount64(__u64 x)
{
	x = x - ((x >> 1) & 0x5555555555555555ULL);
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/* net_lookup returns the index of the rules of the CIDRs of set gen that cover the address a (16
 * bytes of a map value, 8-aligned, IPv4 mapped) whose /16's entry is s (see osec_pol_net4), or
 * -1 when the trie must be searched (a /16 left to it, or an entry the compiler did not write). */
_Static_assert(__builtin_offsetof(struct policy_event, addr) % 8 == 0, "net_lookup loads addr as words");
static __noinline int net_lookup(__u32 gen, const __u8 *a, struct pol_net16 *s)
{
	__u64 lo, hi, w;
	struct pol_netn *n;
	__u32 val, node, k;
	void *in;

	if (!s || (s->flags & POL_NET_TRIE))
		return -1;
	val = s->val;
	node = s->node;
	if (!node)
		return val;
	in = bpf_map_lookup_elem(&osec_pol_netx, &gen);
	if (!in)
		return -1;
	__builtin_memcpy(&lo, __builtin_assume_aligned(a, 8), 8);
	__builtin_memcpy(&hi, __builtin_assume_aligned(a + 8, 8), 8);
	/* Each node is at least a byte deeper than its parent: levels 2 to 15. */
	for (int i = 0; i < 14; i++) {
		k = node - 1;
		n = bpf_map_lookup_elem(in, &k);
		if (!n)
			return -1;
		if ((lo & n->mask[0]) != n->addr[0] || (hi & n->mask[1]) != n->addr[1])
			return val; /* it differs in a byte skipped: the parent's slot is the answer */
		k = a[n->lvl & 15];
		val = n->val[k];
		w = n->has[k / 64];
		if (!((w >> (k % 64)) & 1))
			return val;
		node = n->kids + n->rank[k / 64] + popcount64(w & ((1ULL << (k % 64)) - 1)) + 1;
	}
	return -1; /* deeper than any set the compiler writes */
}

/* cidr_rules returns the rules of the CIDRs of set gen that cover the address a (16 bytes of a
 * map value, IPv4 mapped), or NULL. */
static __always_inline struct pol_bits *cidr_rules(__u32 gen, const __u8 *a)
{
	__u32 idx;
	void *in;
	int val;

	if (is_v4mapped(a)) {
		struct pol_lpm4 k = {.prefixlen = 32};

		idx = gen * 65536 + ((__u32)a[12] << 8 | a[13]);
		val = net_lookup(gen, a, bpf_map_lookup_elem(&osec_pol_net4, &idx));
		if (val > 0) {
			idx = gen * 256 + (val & 255);
			return bpf_map_lookup_elem(&osec_pol_net4val, &idx);
		}
		if (val == 0)
			return NULL;
		__builtin_memcpy(k.addr, a + 12, 4);
		in = bpf_map_lookup_elem(&osec_pol_cidr4, &gen);
		return in ? bpf_map_lookup_elem(in, &k) : NULL;
	} else {
		struct pol_lpm6 k = {.prefixlen = 128};

		idx = gen * 65536 + ((__u32)a[0] << 8 | a[1]);
		val = net_lookup(gen, a, bpf_map_lookup_elem(&osec_pol_net6, &idx));
		if (val > 0) {
			idx = gen * 256 + (val & 255);
			return bpf_map_lookup_elem(&osec_pol_net6val, &idx);
		}
		if (val == 0)
			return NULL;
		__builtin_memcpy(k.addr, a, 16);
		in = bpf_map_lookup_elem(&osec_pol_cidr6, &gen);
		return in ? bpf_map_lookup_elem(in, &k) : NULL;
	}
}

/* and_addr applies the CIDR, port and protocol selectors to e's address. */
static __always_inline void and_addr(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				     struct policy_event *e)
{
	struct pol_bits m, *v;

	if (bits_need(cand, &h->any_addr)) {
		m = h->any_addr;
		v = cidr_rules(gen, e->addr);
		if (v)
			bits_or(&m, v);
		bits_and(cand, &m);
	}
	if (bits_need(cand, &h->any_port)) {
		__u32 idx = gen * POL_PORTS + e->port;

		m = h->any_port;
		v = bpf_map_lookup_elem(&osec_pol_ports, &idx);
		if (v)
			bits_or(&m, v);
		bits_and(cand, &m);
	}
	if (e->protocol == IPPROTO_TCP)
		bits_and(cand, &h->tcp);
	else if (e->protocol == IPPROTO_UDP)
		bits_and(cand, &h->udp);
}

/* Decisions */

static __always_inline bool rate_ok(__u32 idx, struct pol_rule *r)
{
	__u64 *tat, now, t;

	if (!r->interval_ns)
		return true;
	tat = bpf_map_lookup_elem(&osec_pol_rate, &idx);
	if (!tat)
		return true;
	now = bpf_ktime_get_ns();
	/* GCRA with compare-and-swap: concurrent decisions of one rule on several CPUs each take
	 * their own slot; after a second lost race the record is let through (never lost silently). */
	for (int tries = 0; tries < 2; tries++) {
		__u64 old = *tat;

		t = old < now ? now : old;
		if (t - now > r->burst_ns)
			return false;
		if (__sync_val_compare_and_swap(tat, old, t + r->interval_ns) == old)
			return true;
	}
	return true;
}

struct pol_signals;
__noinline int pol_decide(struct pol_hdr *h, __u32 gen, __u32 hook, struct pol_bits *cand, struct pol_signals *sig);
__noinline int pol_decide_exec(struct pol_hdr *h, __u32 gen, struct pol_bits *cand, struct pol_signals *sig);

/* What the caller's hook did before pol_decide: bpf_send_signal is not a helper cgroup
 * programs have, and a global function is verified for every program type that calls it, so
 * the signals are sent here, inlined, where the hook is a constant. */
struct pol_signals {
	long kill_err; /* bpf_send_signal(SIGKILL), when a kill rule matched */
	long sig_err;  /* the first failed bpf_send_signal of a signal rule (reported for all) */
};

static __always_inline bool hook_signals(__u32 hook)
{
	return hook == POL_HOOK_EXEC_LSM || hook == POL_HOOK_EXEC_TP || hook == POL_HOOK_FILE_LSM ||
	       hook == POL_HOOK_CONNECT_LSM || hook == POL_HOOK_BIND_LSM || hook == POL_HOOK_SEND_LSM ||
	       hook == POL_HOOK_SETUID_LSM || hook == POL_HOOK_SETUID_TP || hook == POL_HOOK_PATH_LSM ||
	       hook == POL_HOOK_LISTEN_LSM || hook == POL_HOOK_LISTEN_TP;
}

/* decide counts the operation as matched (hook is a constant here, an index the verifier can
 * bound), sends the kill and signal actions, and has pol_decide write the records: 1 = deny. */
static __always_inline int decide(__u32 gen, struct pol_hdr *h, __u32 hook, struct pol_bits *cand,
				  struct pol_work *pw)
{
	struct pol_signals sig = {};
	struct pol_stats *st;
	int d;

	if (!bits_any(cand))
		return 0;
	st = pol_stats();
	if (st && hook < POL_HOOK_MAX)
		st->hook[hook].matched++;
	if (hook_signals(hook)) {
		if (needs(h, hook, POL_NEED_KILL) && bits_meet(cand, &h->kill))
			sig.kill_err = bpf_send_signal(SIGKILL);
		if (needs(h, hook, POL_NEED_SIGNAL) && bits_meet(cand, &h->signal)) {
			struct pol_bits s = *cand;

			bits_and(&s, &h->signal);
			for (int i = 0; i < POL_MAX_DECISIONS; i++) {
				int id = pop_rule(&s);
				__u32 idx;
				struct pol_rule *r;

				if (id < 0)
					break;
				idx = gen * POL_MAX_RULES + (id & (POL_MAX_RULES - 1));
				r = bpf_map_lookup_elem(&osec_pol_rules, &idx);
				if (r && r->action == POL_ACT_SIGNAL) {
					long err = bpf_send_signal(r->signal);

					if (err && !sig.sig_err)
						sig.sig_err = err;
				}
			}
		}
	}
	if (hook == POL_HOOK_EXEC_TP) /* a constant here: each program verifies one of the two */
		d = pol_decide_exec(h, gen, cand, &sig);
	else
		d = pol_decide(h, gen, hook, cand, &sig); /* the record is in the per-CPU scratch, pw */
	barrier_var(d); /* the verifier knows nothing of a global function's result: bound it here */
	return d & 1;
}

/* pol_decide carries out the verdict of the matching rules cand and writes their records; it
 * returns 1 when the operation is to be denied (the caller's hook can deny). A global function,
 * verified once (see pol_reverse_key). */
/* decide_rules writes the records of the matching rules cand (at most POL_MAX_DECISIONS): into
 * the exec hand-over xd when to_exec (a constant: each caller's copy is verified on its own
 * path, without the other's states), else as decision records built on e. */
static __always_inline void decide_rules(__u32 gen, struct pol_bits *cand, struct pol_stats *st,
					 long kill_err, long sig_err, bool to_exec,
					 struct exec_decisions *xd, struct policy_event *e, __u64 size)
{
	for (int i = 0; i < POL_MAX_DECISIONS; i++) {
		int id = pop_rule(cand);
		__u32 idx;
		struct pol_rule *r;
		__u8 out;

		if (id < 0)
			break;
		idx = gen * POL_MAX_RULES + (id & (POL_MAX_RULES - 1));
		r = bpf_map_lookup_elem(&osec_pol_rules, &idx);
		if (!r)
			continue;
		switch (r->action) {
		case POL_ACT_DENY:
			if (r->flags & POL_KILL_FALLBACK)
				out = (r->flags & POL_MONITOR) ? POL_OUT_WOULD_KILL :
				      kill_err ? POL_OUT_SIGNAL_FAILED : POL_OUT_KILLED;
			else
				out = (r->flags & POL_MONITOR) ? POL_OUT_WOULD_DENY : POL_OUT_DENIED;
			break;
		case POL_ACT_KILL:
			out = (r->flags & POL_MONITOR) ? POL_OUT_WOULD_KILL :
			      kill_err ? POL_OUT_SIGNAL_FAILED : POL_OUT_KILLED;
			break;
		case POL_ACT_SUPPRESS: /* only monitor-mode ones reach here (see mute) */
			out = POL_OUT_WOULD_SUPPRESS;
			break;
		case POL_ACT_SIGNAL:
			if (r->flags & POL_MONITOR) {
				out = POL_OUT_WOULD_SIGNAL;
			} else {
				out = sig_err ? POL_OUT_SIGNAL_FAILED : POL_OUT_SIGNALED;
			}
			break;
		default:
			out = POL_OUT_AUDITED;
		}
		if (!rate_ok(idx, r)) {
			if (st)
				st->rate_limited++;
			continue;
		}
		if (to_exec) {
			struct exec_decision *x = &xd->d[xd->n & (EXEC_DECISIONS_MAX - 1)];

			x->rule_id = id + 1;
			x->action = r->action;
			x->outcome = out;
			x->rflags = r->flags;
			xd->n++;
		} else {
			e->rule_id = id + 1;
			e->action = r->action;
			e->outcome = out;
			e->rflags = r->flags;
			emit(e, size, EVENT_POLICY);
		}
	}
	if (bits_any(cand) && st)
		st->truncated++;
}

__noinline int pol_decide(struct pol_hdr *h, __u32 gen, __u32 hook, struct pol_bits *cand, struct pol_signals *sig)
{
	struct pol_work *pw = pol_work(); /* the scratch from its map (see pol_binary_exec) */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pol_stats *st = pol_stats();
	struct policy_event *e;
	const struct cred *cred;
	long kill_err, sig_err;
	bool deny;

	if (!h || !cand || !pw || !sig || !bits_any(cand))
		return 0;
	e = &pw->ev;
	deny = needs(h, hook, POL_NEED_DENY) && bits_meet(cand, &h->deny);
	kill_err = sig->kill_err;
	sig_err = sig->sig_err;

	fill_header(&e->hdr, EVENT_POLICY, task);
	e->generation = h->generation;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->hook = hook;
	if (!(e->flags & POL_EV_CREDS)) { /* a privilege change has the new ones already */
		cred = BPF_CORE_READ(task, cred);
		e->uid = BPF_CORE_READ(cred, uid.val);
		e->euid = BPF_CORE_READ(cred, euid.val);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* The record ends after the path's bytes: a decision on a short path copies ~200 bytes
	 * into the ring buffer, not the whole 408-byte struct. */
	decide_rules(gen, cand, st, kill_err, sig_err, false, NULL, e,
		     offsetof(struct policy_event, path) + (e->path_len & (POL_KEY_BYTES - 1)));
	return deny;
}

/* pol_decide_exec is pol_decide for tp_btf/sched_process_exec: the decisions go to the exec
 * record (struct exec_decisions) instead of records of their own. */
__noinline int pol_decide_exec(struct pol_hdr *h, __u32 gen, struct pol_bits *cand, struct pol_signals *sig)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pol_stats *st = pol_stats();
	struct exec_decisions *xd;
	__u32 zero = 0;
	bool deny;

	if (!h || !cand || !sig || !bits_any(cand))
		return 0;
	deny = needs(h, POL_HOOK_EXEC_TP, POL_NEED_DENY) && bits_meet(cand, &h->deny);
	xd = bpf_map_lookup_elem(&osec_exec_dec, &zero);
	if (!xd)
		return deny;
	if (xd->n) {
		/* an earlier exec's, never taken: its exec record was not written */
		struct sensor_stats *ss = bpf_map_lookup_elem(&osec_stats, &zero);

		if (ss)
			ss->lost[EVENT_POLICY] += xd->n;
	}
	xd->generation = h->generation;
	xd->exec_id = task->self_exec_id; /* a trusted pointer: loads, not bpf_probe_read_kernel */
	xd->tgid = task->tgid;
	xd->n = 0;
	decide_rules(gen, cand, st, sig->kill_err, sig->sig_err, true, xd, NULL, 0);
	return deny;
}

static __always_inline struct pol_work *work_reset(void)
{
	struct pol_work *pw = pol_work();

	if (!pw)
		return NULL;
	pw->ev.flags = 0;
	pw->ev.path_len = 0;
	pw->ev.file_ops = 0;
	pw->ev.family = 0;
	pw->ev.port = 0;
	pw->ev.protocol = 0;
	__builtin_memset(pw->ev.addr, 0, sizeof(pw->ev.addr));
	return pw;
}

/* lsm_verdict turns a deny into a BPF LSM program's return value as a branch between two
 * constants: Linux 6.12 checks that an LSM program returns 0 or a -errno, and the compiler's
 * arithmetic for "deny ? -EPERM : 0" (deny known to be 0 or 1) leaves a range the verifier
 * cannot bound. */
static __always_inline int lsm_verdict(int deny)
{
	barrier_var(deny); /* unknown to the compiler: it compares and branches */
	if (deny)
		return -EPERM;
	return 0;
}

/* Exec */

/* mute carries out the enforced suppress rules among cand, which write no decision record:
 * the process (this image, and its children until they exec) is muted in osec_mute, which the
 * sensors read. Only at sched_process_exec, once the exec has succeeded: an exec that fails
 * after bprm_check_security must not mute the image that replaces it later. */
static __always_inline void mute(struct pol_hdr *h, struct pol_bits *cand, struct task_struct *task)
{
	struct pol_bits s = *cand;
	struct pol_stats *st = pol_stats();
	struct mute_val m = {};
	__u32 tgid;
	int id;

	bits_and(&s, &h->suppress);
	id = pop_rule(&s);
	if (id < 0)
		return;
	tgid = BPF_CORE_READ(task, tgid);
	m.exec_id = BPF_CORE_READ(task, self_exec_id);
	m.generation = h->generation;
	m.rule_id = id + 1;
	bpf_map_update_elem(&osec_mute, &tgid, &m, BPF_ANY);
	if (st)
		st->muted++;
	for (int i = 0; i < POL_RULE_WORDS; i++)
		cand->w[i] &= ~h->suppress.w[i];
}

static __always_inline int on_exec(__u32 hook, struct linux_binprm *bprm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pol_bits cand;
	struct pol_work *pw;
	struct pol_hdr *h;
	__u32 gen;

	h = begin(hook, &gen, &cand);
	if (!h)
		return 0;
	if (needs(h, hook, POL_NEED_WORKLOAD))
		pol_workload(h, gen, &cand);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_UID | POL_NEED_EUID))
		and_ids(gen, h, &cand, task);
	if (needs(h, hook, POL_NEED_CAP))
		and_caps(h, &cand, task);
	if (needs(h, hook, POL_NEED_STDIO))
		pol_stdio(h, &cand);
	if (!bits_any(&cand))
		return 0;
	pw = work_reset();
	if (!pw)
		return 0;
	pol_binary_exec(h, gen, &cand, (__u64)BPF_CORE_READ(bprm, file));
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_PARENT))
		pol_parent(h, gen, &cand);
	if (hook == POL_HOOK_EXEC_TP) {
		if (needs(h, hook, POL_NEED_ARGS))
			pol_args_sel(h, gen, &cand);
		if (needs(h, hook, POL_NEED_SUPPRESS) && bits_meet(&cand, &h->suppress))
			mute(h, &cand, task);
	} else if (needs(h, hook, POL_NEED_ARGS)) {
		/* the loader puts argument rules on the tracepoint; never match them here */
		for (int i = 0; i < POL_RULE_WORDS; i++)
			cand.w[i] &= ~h->args.w[i];
	}
	return decide(gen, h, hook, &cand, pw);
}

SEC("lsm/bprm_check_security")
int BPF_PROG(osec_pol_exec_lsm, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_exec(POL_HOOK_EXEC_LSM, bprm));
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(osec_pol_exec_tp, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	on_exec(POL_HOOK_EXEC_TP, bprm);
	return 0;
}

/* Files */

SEC("lsm/file_open")
int BPF_PROG(osec_pol_open_lsm, struct file *file, int ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct pol_bits cand, ops = {};
	struct pol_work *pw;
	struct pol_hdr *h;
	struct path p = {};
	__u32 gen, fmode, fflags, fops;
	int len;

	if (ret)
		return ret;
	h = begin(POL_HOOK_FILE_LSM, &gen, &cand);
	if (!h)
		return 0;
	fmode = BPF_CORE_READ(file, f_mode);
	fflags = BPF_CORE_READ(file, f_flags);
	fops = 1 << POL_FOP_OPEN;
	bits_or(&ops, &h->file_op[POL_FOP_OPEN]);
	if (fmode & FMODE_READ) {
		fops |= 1 << POL_FOP_READ;
		bits_or(&ops, &h->file_op[POL_FOP_READ]);
	}
	if (fmode & FMODE_WRITE) {
		fops |= 1 << POL_FOP_WRITE;
		bits_or(&ops, &h->file_op[POL_FOP_WRITE]);
	}
	if (fmode & FMODE_CREATED) {
		fops |= 1 << POL_FOP_CREATE;
		bits_or(&ops, &h->file_op[POL_FOP_CREATE]);
	}
	if (fflags & O_TRUNC) {
		fops |= 1 << POL_FOP_TRUNCATE;
		bits_or(&ops, &h->file_op[POL_FOP_TRUNCATE]);
	}
	bits_and(&cand, &ops);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, POL_HOOK_FILE_LSM, POL_NEED_WORKLOAD))
		pol_workload(h, gen, &cand);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, POL_HOOK_FILE_LSM, POL_NEED_UID | POL_NEED_EUID))
		and_ids(gen, h, &cand, task);
	if (!bits_any(&cand) || !b || !w)
		return 0;
	pw = work_reset();
	if (!pw)
		return 0;
	pw->ev.file_ops = fops;
	BPF_CORE_READ_INTO(&p, file, f_path);
	len = build_path(b, w, pw, 0, &p);
	if (len > 0) {
		struct pol_bits m = h->any_path;

		copy_path(&pw->ev, b, 0, len);
		if (bits_need(&cand, &h->any_path)) {
			path_bits(w, pw, &osec_pol_path_exact, &osec_pol_path_prefix, gen, &m);
			bits_and(&cand, &m);
		}
	} else {
		bits_and(&cand, &h->any_path);
	}
	if (!bits_any(&cand))
		return 0;
	if (needs(h, POL_HOOK_FILE_LSM, POL_NEED_CAP))
		and_caps(h, &cand, task);
	pol_binary(h, gen, &cand, (__u64)BPF_CORE_READ(task, mm, exe_file));
	if (needs(h, POL_HOOK_FILE_LSM, POL_NEED_PARENT))
		pol_parent(h, gen, &cand);
	return lsm_verdict(decide(gen, h, POL_HOOK_FILE_LSM, &cand, pw));
}

/* File operations beyond open (path hooks) */

/* path_match builds the path of dentry d under dir's mount, and returns in m the rules its
 * path selectors allow. Returns its length (-1 when it cannot be matched). */
static __always_inline int path_match(struct pol_hdr *h, __u32 gen, struct file_buf *b, struct file_work *w,
				      struct pol_work *pw, const struct path *dir, struct dentry *d,
				      struct pol_bits *m)
{
	struct path p = {};
	int len;

	p.mnt = BPF_CORE_READ(dir, mnt);
	/* d may be a BTF pointer (an LSM argument): put_path, a global function, takes scalars */
	bpf_probe_read_kernel(&p.dentry, sizeof(p.dentry), &d);
	*m = h->any_path;
	len = build_path(b, w, pw, 0, &p);
	if (len > 0)
		path_bits(w, pw, &osec_pol_path_exact, &osec_pol_path_prefix, gen, m);
	return len;
}

/* on_path evaluates file operation op (POL_FOP_*) on d under dir and, for rename and link, on
 * the new name d2 under dir2 (d2 NULL otherwise). 1 denies. */
static __always_inline int on_path(__u32 op, const struct path *dir, struct dentry *d,
				   const struct path *dir2, struct dentry *d2)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct pol_bits cand, m, m2, c2;
	struct pol_work *pw;
	struct pol_hdr *h;
	__u32 gen;
	int len;

	h = begin(POL_HOOK_PATH_LSM, &gen, &cand);
	if (!h || op >= POL_FOP_BITS)
		return 0;
	bits_and(&cand, &h->file_op[op]); /* op < POL_FOP_BITS, a constant per program */
	if (!bits_any(&cand))
		return 0;
	if (needs(h, POL_HOOK_PATH_LSM, POL_NEED_WORKLOAD))
		pol_workload(h, gen, &cand);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, POL_HOOK_PATH_LSM, POL_NEED_UID | POL_NEED_EUID))
		and_ids(gen, h, &cand, task);
	if (!bits_any(&cand) || !b || !w || !dir || !d)
		return 0;
	pw = work_reset();
	if (!pw)
		return 0;
	pw->ev.file_ops = 1 << op;
	len = path_match(h, gen, b, w, pw, dir, d, &m);
	if (len > 0)
		copy_path(&pw->ev, b, 0, len);
	if (d2 && dir2 && bits_need(&cand, &h->any_path)) {
		c2 = cand;
		bits_and(&c2, &m);
		if (!bits_any(&c2)) {
			/* the old name matched no rule with a path selector: try the new one */
			len = path_match(h, gen, b, w, pw, dir2, d2, &m2);
			c2 = cand;
			bits_and(&c2, &m2);
			if (len > 0 && bits_any(&c2)) {
				pw->ev.flags = 0;
				copy_path(&pw->ev, b, 0, len);
				pw->ev.flags |= POL_EV_PATH_NEW;
			}
			bits_or(&m, &m2);
		}
	}
	bits_and(&cand, &m);
	if (!bits_any(&cand))
		return 0;
	pol_binary(h, gen, &cand, (__u64)BPF_CORE_READ(task, mm, exe_file));
	return decide(gen, h, POL_HOOK_PATH_LSM, &cand, pw);
}

SEC("lsm/path_unlink")
int BPF_PROG(osec_pol_unlink_lsm, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_UNLINK, dir, dentry, NULL, NULL));
}

SEC("lsm/path_rmdir")
int BPF_PROG(osec_pol_rmdir_lsm, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_RMDIR, dir, dentry, NULL, NULL));
}

SEC("lsm/path_mkdir")
int BPF_PROG(osec_pol_mkdir_lsm, const struct path *dir, struct dentry *dentry, unsigned int mode, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_MKDIR, dir, dentry, NULL, NULL));
}

SEC("lsm/path_symlink")
int BPF_PROG(osec_pol_symlink_lsm, const struct path *dir, struct dentry *dentry, const char *old_name, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_LINK, dir, dentry, NULL, NULL));
}

SEC("lsm/path_link")
int BPF_PROG(osec_pol_link_lsm, struct dentry *old_dentry, const struct path *new_dir, struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	/* a hard link stays within a mount: the old name is under new_dir's mount too */
	return lsm_verdict(on_path(POL_FOP_LINK, new_dir, old_dentry, new_dir, new_dentry));
}

SEC("lsm/path_rename")
int BPF_PROG(osec_pol_rename_lsm, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return ret;
	/* RENAME_EXCHANGE: both names are old and new; the old one is tried first */
	return lsm_verdict(on_path(POL_FOP_RENAME, old_dir, old_dentry, new_dir, new_dentry));
}

SEC("lsm/path_chmod")
int BPF_PROG(osec_pol_chmod_lsm, const struct path *path, unsigned int mode, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_CHMOD, path, BPF_CORE_READ(path, dentry), NULL, NULL));
}

SEC("lsm/path_chown")
int BPF_PROG(osec_pol_chown_lsm, const struct path *path, unsigned int uid, unsigned int gid, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_CHOWN, path, BPF_CORE_READ(path, dentry), NULL, NULL));
}

SEC("lsm/path_truncate")
int BPF_PROG(osec_pol_truncate_lsm, const struct path *path, int ret)
{
	if (ret)
		return ret;
	return lsm_verdict(on_path(POL_FOP_TRUNCATE, path, BPF_CORE_READ(path, dentry), NULL, NULL));
}

/* Privilege changes */

/* and_touids applies the toUIDs selector: the ids that changed, looked up by their new value. */
static __always_inline void and_touids(__u32 gen, struct pol_hdr *h, struct pol_bits *cand,
				       const struct pol_creds *o, const struct pol_creds *n)
{
	struct pol_bits m, *v;
	__u32 id;
	void *in;

	if (!bits_need(cand, &h->any_touid))
		return;
	m = h->any_touid;
	in = bpf_map_lookup_elem(&osec_pol_touids, &gen);
	if (in) {
		if (n->uid != o->uid) {
			id = n->uid;
			if ((v = bpf_map_lookup_elem(in, &id)))
				bits_or(&m, v);
		}
		if (n->euid != o->euid) {
			id = n->euid;
			if ((v = bpf_map_lookup_elem(in, &id)))
				bits_or(&m, v);
		}
		if (n->fsuid != o->fsuid) {
			id = n->fsuid;
			if ((v = bpf_map_lookup_elem(in, &id)))
				bits_or(&m, v);
		}
	}
	bits_and(cand, &m);
}

/* on_setuid evaluates a change from o to n of the current thread's credentials. 1 denies. */
static __always_inline int on_setuid(__u32 hook, const struct pol_creds *o, const struct pol_creds *n)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pol_bits cand;
	struct pol_work *pw;
	struct pol_hdr *h;
	__u32 gen;

	if (o->uid == n->uid && o->euid == n->euid && o->fsuid == n->fsuid)
		return 0;
	h = begin(hook, &gen, &cand);
	if (!h)
		return 0;
	and_touids(gen, h, &cand, o, n);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_WORKLOAD))
		pol_workload(h, gen, &cand);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_UID | POL_NEED_EUID))
		and_ids_of(gen, h, &cand, o->uid, o->euid);
	if (!bits_any(&cand))
		return 0;
	pw = work_reset();
	if (!pw)
		return 0;
	/* exec = true: the binary goes into the record (no per-process cache: setuid is rare) */
	pol_binary_exec(h, gen, &cand, (__u64)BPF_CORE_READ(task, mm, exe_file));
	pw->ev.flags |= POL_EV_CREDS;
	pw->ev.uid = n->uid;
	pw->ev.euid = n->euid;
	pw->ev.fsuid = n->fsuid;
	pw->ev.old_uid = o->uid;
	pw->ev.old_euid = o->euid;
	pw->ev.old_fsuid = o->fsuid;
	return decide(gen, h, hook, &cand, pw);
}

static __always_inline void read_creds(struct pol_creds *c, const struct cred *cr)
{
	c->uid = BPF_CORE_READ(cr, uid.val);
	c->euid = BPF_CORE_READ(cr, euid.val);
	c->fsuid = BPF_CORE_READ(cr, fsuid.val);
	c->pad = 0;
}

SEC("lsm/task_fix_setuid")
int BPF_PROG(osec_pol_setuid_lsm, struct cred *new, const struct cred *old, int flags, int ret)
{
	struct pol_creds o, n;

	if (ret)
		return ret;
	read_creds(&o, old);
	read_creds(&n, new);
	return lsm_verdict(on_setuid(POL_HOOK_SETUID_LSM, &o, &n));
}

/* hook_used: the active set has rules at hook. */
static __always_inline bool hook_used(__u32 hook)
{
	__u32 zero = 0, gen;
	struct pol_active *a = bpf_map_lookup_elem(&osec_pol_active, &zero);
	struct pol_hdr *h;

	if (!a || !a->on || hook >= POL_HOOK_MAX)
		return false;
	gen = a->gen & 1;
	h = bpf_map_lookup_elem(&osec_pol_hdr, &gen);
	return h && bits_any(&h->hook[hook]);
}

/* Attached to sys_enter_setuid, setreuid, setresuid and setfsuid. */
SEC("tracepoint/syscalls/sys_enter_setuid")
int osec_pol_setuid_enter(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct pol_creds o;

	if (!hook_used(POL_HOOK_SETUID_TP))
		return 0;
	read_creds(&o, BPF_CORE_READ(task, cred));
	bpf_map_update_elem(&osec_pol_setuid_old, &id, &o, BPF_ANY);
	return 0;
}

/* Attached to sys_exit_setuid, setreuid, setresuid and setfsuid: compares the thread's
 * credentials with those stashed at sys_enter (a failed call changed nothing). */
SEC("tracepoint/syscalls/sys_exit_setuid")
int osec_pol_setuid_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();
	struct pol_creds o, n, *s;

	s = bpf_map_lookup_elem(&osec_pol_setuid_old, &id);
	if (!s)
		return 0;
	o = *s;
	bpf_map_delete_elem(&osec_pol_setuid_old, &id);
	read_creds(&n, BPF_CORE_READ(task, cred));
	on_setuid(POL_HOOK_SETUID_TP, &o, &n);
	return 0;
}

/* Network */

static __always_inline void map4(__u8 *dst, __u32 v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &v4, 4);
}

/* on_net evaluates hook for the address already in pw->ev. */
static __always_inline int on_net(__u32 hook, struct pol_work *pw)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pol_bits cand;
	struct pol_hdr *h;
	__u32 gen;

	h = begin(hook, &gen, &cand);
	if (!h)
		return 0;
	and_addr(gen, h, &cand, &pw->ev);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_WORKLOAD))
		pol_workload(h, gen, &cand);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_UID | POL_NEED_EUID))
		and_ids(gen, h, &cand, task);
	if (!bits_any(&cand))
		return 0;
	if (needs(h, hook, POL_NEED_CAP))
		and_caps(h, &cand, task);
	pol_binary(h, gen, &cand, (__u64)BPF_CORE_READ(task, mm, exe_file));
	if (needs(h, hook, POL_NEED_PARENT))
		pol_parent(h, gen, &cand);
	return decide(gen, h, hook, &cand, pw);
}

/* tcp_proto reports MPTCP sockets (what Go's net.Listen opens by default) as TCP: their
 * subflows are TCP, and a tcp rule is meant for them too. */
static __always_inline __u16 tcp_proto(__u16 p)
{
	return p == IPPROTO_MPTCP ? IPPROTO_TCP : p;
}

/* lsm_addr reads an AF_INET or AF_INET6 socket address (kernel memory) of an inet socket into
 * pw->ev. Returns 0 when it is one. */
static __always_inline int lsm_addr(struct pol_work *pw, struct socket *sock, struct sockaddr *addr, int len)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct policy_event *e = &pw->ev;
	__u16 family, skf;

	if (!sk || !addr || len < 2)
		return -1;
	skf = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (skf != AF_INET && skf != AF_INET6)
		return -1;
	family = BPF_CORE_READ(addr, sa_family);
	if (family == AF_INET && len >= (int)sizeof(struct sockaddr_in)) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;

		map4(e->addr, BPF_CORE_READ(in, sin_addr.s_addr));
		e->port = bpf_ntohs(BPF_CORE_READ(in, sin_port));
	} else if (family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;

		bpf_core_read(e->addr, 16, &in6->sin6_addr);
		e->port = bpf_ntohs(BPF_CORE_READ(in6, sin6_port));
	} else {
		return -1;
	}
	e->family = family;
	e->protocol = tcp_proto(BPF_CORE_READ(sk, sk_protocol));
	e->flags |= POL_EV_ADDR;
	return 0;
}

SEC("lsm/socket_connect")
int BPF_PROG(osec_pol_connect_lsm, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct pol_work *pw;

	if (ret)
		return ret;
	pw = work_reset();
	if (!pw || lsm_addr(pw, sock, address, addrlen))
		return 0;
	return lsm_verdict(on_net(POL_HOOK_CONNECT_LSM, pw));
}

SEC("lsm/socket_bind")
int BPF_PROG(osec_pol_bind_lsm, struct socket *sock, struct sockaddr *address, int addrlen, int ret)
{
	struct pol_work *pw;

	if (ret)
		return ret;
	pw = work_reset();
	if (!pw || lsm_addr(pw, sock, address, addrlen))
		return 0;
	return lsm_verdict(on_net(POL_HOOK_BIND_LSM, pw));
}

SEC("lsm/socket_sendmsg")
int BPF_PROG(osec_pol_send_lsm, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	struct pol_work *pw;
	void *name;
	int len;

	if (ret)
		return ret;
	name = BPF_CORE_READ(msg, msg_name);
	len = BPF_CORE_READ(msg, msg_namelen);
	if (!name)
		return 0; /* a connected socket: its destination was checked at connect() */
	pw = work_reset();
	if (!pw || lsm_addr(pw, sock, name, len))
		return 0;
	return lsm_verdict(on_net(POL_HOOK_SEND_LSM, pw));
}

/* Listen: the address is the socket's own (local) one. A socket that was not bound gets its
 * port inside listen(), after both hooks: its port reads 0 there. */
static __always_inline int sk_local(struct pol_work *pw, const struct sock *sk)
{
	struct policy_event *e = &pw->ev;
	__u16 family;

	if (!sk)
		return -1;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET)
		map4(e->addr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
	else if (family == AF_INET6)
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
	else
		return -1;
	e->family = family;
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->protocol = tcp_proto(BPF_CORE_READ(sk, sk_protocol));
	e->flags |= POL_EV_ADDR;
	return 0;
}

SEC("lsm/socket_listen")
int BPF_PROG(osec_pol_listen_lsm, struct socket *sock, int backlog, int ret)
{
	struct pol_work *pw;

	if (ret)
		return ret;
	pw = work_reset();
	if (!pw || sk_local(pw, BPF_CORE_READ(sock, sk)))
		return 0;
	return lsm_verdict(on_net(POL_HOOK_LISTEN_LSM, pw));
}

#define TCP_LISTEN 10

/* Without BPF LSM: the socket's move to TCP_LISTEN, inside listen() in the caller's context.
 * kill: SIGKILL before listen() returns; the socket closes with the process (unless its fd
 * is shared). Every TCP state change runs this program up to the state test. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(osec_pol_listen_tp, const struct sock *sk, const int oldstate, const int newstate)
{
	struct pol_work *pw;

	if (newstate != TCP_LISTEN)
		return 0;
	pw = work_reset();
	if (!pw || sk_local(pw, sk))
		return 0;
	on_net(POL_HOOK_LISTEN_TP, pw);
	return 0;
}

/* The UAPI context of cgroup sock_addr programs (see network.bpf.c). */
struct pol_sock_addr {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port;
	__u32 family;
	__u32 type;
	__u32 protocol;
};

/* on_cg evaluates a cgroup sock_addr hook; v6 is a constant per attach type. 1 allows. */
static __always_inline int on_cg(struct pol_sock_addr *ctx, __u32 hook, bool v6)
{
	struct pol_work *pw = work_reset();
	struct policy_event *e;
	__u32 a[4];

	if (!pw)
		return 1;
	e = &pw->ev;
	if (!v6) {
		__u32 d4 = ctx->user_ip4;

		barrier_var(d4);
		map4(e->addr, d4);
		e->family = AF_INET;
	} else {
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		__builtin_memcpy(e->addr, a, 16);
		e->family = AF_INET6;
	}
	e->port = bpf_ntohs((__u16)ctx->user_port);
	e->protocol = ctx->protocol;
	e->flags |= POL_EV_ADDR;
	return on_net(hook, pw) ? 0 : 1;
}

SEC("cgroup/connect4")
int osec_pol_c4(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_CONNECT_CG, false); }

SEC("cgroup/connect6")
int osec_pol_c6(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_CONNECT_CG, true); }

SEC("cgroup/bind4")
int osec_pol_b4(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_BIND_CG, false); }

SEC("cgroup/bind6")
int osec_pol_b6(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_BIND_CG, true); }

SEC("cgroup/sendmsg4")
int osec_pol_s4(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_SEND_CG, false); }

SEC("cgroup/sendmsg6")
int osec_pol_s6(struct pol_sock_addr *ctx) { return on_cg(ctx, POL_HOOK_SEND_CG, true); }
