/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by every otelsec sensor: the one ring buffer, its batched wakeups and the loss counters. */
#pragma once

#include "vmlinux.h"
#include "bpf_helpers.h"
#include "bpf_core_read.h"
#include "bpf_tracing.h"

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Load-time settings (rewritten by the loader before the object is loaded). */

/* Force a consumer wakeup every wakeup_every records per CPU; the records in between are
 * submitted with BPF_RB_NO_WAKEUP and picked up by the reader's deadline. A wakeup costs more
 * than the record it announces, so batching them is most of the ring buffer's cost. */
const volatile __u32 wakeup_every = 64;

/* One ring buffer for all sensors; the loader shares it between objects. Its size is set at load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} osec_events SEC(".maps");

/* Per-CPU counters, one slot per event kind: what was sent and what the ring buffer refused. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sensor_stats);
} osec_stats SEC(".maps");

/* Processes muted by a policy's suppress rule, by tgid (policy.bpf.c writes an entry at the
 * exec a rule matched; the process sensor copies it to forked children and deletes it at exit
 * or when the process execs another image). LRU: a full map forgets a mute, never an event. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct mute_val);
} osec_mute SEC(".maps");

/* Non-zero while the policy set in force has a suppress rule (the enforcer sets it before the
 * set takes effect and clears it once a set without one has): emit() looks a process up in
 * osec_mute only then. An array read is inlined by the verifier; a hash lookup per record is not. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} osec_mute_on SEC(".maps");

/* The policy's exec decisions handed to the process sensor's exec record (see struct
 * exec_decisions): written by policy.bpf.c, read and cleared by process.bpf.c. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_decisions);
} osec_exec_dec SEC(".maps");

/* Per-CPU sequence numbers for the wakeup batching. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} osec_rb_seq SEC(".maps");

static __always_inline __u64 submit_flags(void)
{
	__u32 zero = 0;
	__u64 *seq = bpf_map_lookup_elem(&osec_rb_seq, &zero);

	if (!seq || wakeup_every <= 1)
		return BPF_RB_FORCE_WAKEUP;
	*seq += 1;
	if (*seq % wakeup_every == 0)
		return BPF_RB_FORCE_WAKEUP;
	/* A burst must not fill the buffer while the reader sleeps until its deadline: past half
	 * full, every record wakes it. That wakeup, paid by the producing task, also slows a
	 * producer that outruns the reader; waking only every 8th record there lost 5-10 % of
	 * the records at 100,000 file events/s where this loses none (BENCHMARKS.md, file sensor). */
	if (bpf_ringbuf_query(&osec_events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&osec_events, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* muted_family: the record kinds a muted process's events are dropped for in the kernel. Exec
 * and exit records are still sent (flagged) for the process cache; forks only feed the cache;
 * policy decisions on a muted process are always reported. */
static __always_inline bool muted_family(__u8 kind)
{
	return kind == EVENT_FILE || kind == EVENT_NETWORK || kind == EVENT_PRIVILEGE || kind == EVENT_SECURITY;
}

/* emit copies size bytes of data (a record starting with struct event_header) into the ring
 * buffer and counts the outcome for kind; an event of a muted process is dropped and counted. */
static __always_inline void emit(void *data, __u64 size, __u8 kind)
{
	struct event_header *hdr = data;
	__u32 zero = 0, tgid = hdr->tgid;
	struct sensor_stats *st = bpf_map_lookup_elem(&osec_stats, &zero);
	long err;

	__u32 *mute_on = bpf_map_lookup_elem(&osec_mute_on, &zero);

	if (muted_family(kind) && mute_on && *mute_on && bpf_map_lookup_elem(&osec_mute, &tgid)) {
		if (st && kind < EVENT_KIND_MAX)
			st->suppressed[kind]++;
		return;
	}
	err = bpf_ringbuf_output(&osec_events, data, size, submit_flags());
	if (!st || kind >= EVENT_KIND_MAX)
		return;
	if (err) {
		st->lost[kind]++;
		return;
	}
	st->sent[kind]++;
	if (hdr->flags & EVENT_HDR_SUPPRESSED)
		st->suppressed[kind]++;
}

/* count_filtered counts an event of kind that an in-kernel filter dropped. */
static __always_inline void count_filtered(__u8 kind)
{
	__u32 zero = 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&osec_stats, &zero);

	if (st && kind < EVENT_KIND_MAX)
		st->filtered[kind]++;
}

static __always_inline void fill_header(struct event_header *h, __u8 kind, struct task_struct *task)
{
	h->kind = kind;
	h->flags = 0;
	h->cpu = bpf_get_smp_processor_id();
	h->ktime = bpf_ktime_get_boot_ns();
	h->tgid = BPF_CORE_READ(task, tgid);
	h->tid = BPF_CORE_READ(task, pid);
}
