//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The process sensor: exec, fork and exit of thread groups.
 *
 * Each hook exists twice, as tp_btf (typed arguments, preferred) and raw_tp (the same
 * tracepoints with untyped arguments, for kernels without tp_btf); the loader picks one set.
 * Both read the task through CO-RE, so the handlers are shared. */

#include "common.h"
#include "task.h"

/* Bytes of argv copied per exec, at most ARGS_MAX_BYTES. */
const volatile __u32 args_max = 1024;

/* Referenced so that their BTF reaches bpf2go, which generates the Go record types. */
const struct fork_event *unused_fork_event __attribute__((unused));
const struct exit_event *unused_exit_event __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));
const enum exec_flags *unused_exec_flags __attribute__((unused));
const enum event_hdr_flags *unused_event_hdr_flags __attribute__((unused));
const struct mute_val *unused_mute_val __attribute__((unused));
const struct exec_decision *unused_exec_decision __attribute__((unused));

struct exec_scratch {
	struct exec_event e;
	char data[DATA_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_scratch);
} osec_exec_buf SEC(".maps");

/* Credentials at execve entry, by thread id, so that exec can report what it changed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct task_creds);
} osec_prev_creds SEC(".maps");

/* save_prev_creds records the credentials an exec is about to replace. sched_prepare_exec
 * (Linux 6.10+) fires in begin_new_exec before the new credentials are committed; older kernels
 * use the execve syscall tracepoints, which need tracefs. The key is the thread id, which
 * sched_process_exec reports as old_pid. */
static __always_inline int save_prev_creds(struct task_struct *task)
{
	__u32 tid = BPF_CORE_READ(task, pid);
	struct task_creds c = {};

	read_creds(task, &c);
	bpf_map_update_elem(&osec_prev_creds, &tid, &c, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(osec_prep_btf, struct task_struct *task, struct linux_binprm *bprm)
{
	return save_prev_creds(task);
}

SEC("raw_tp/sched_prepare_exec")
int BPF_PROG(osec_prep_raw, struct task_struct *task, struct linux_binprm *bprm)
{
	return save_prev_creds(task);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int osec_execve(void *ctx)
{
	return save_prev_creds((struct task_struct *)bpf_get_current_task());
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int osec_execveat(void *ctx)
{
	return save_prev_creds((struct task_struct *)bpf_get_current_task());
}

static __always_inline __u32 write_args(struct task_struct *task, char *data, __u32 *off,
					 __u32 *total)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u32 len, max = args_max;
	__u32 flags = 0;

	if (end <= start)
		return 0;
	*total = end - start;
	len = end - start;
	if (max > ARGS_MAX_BYTES)
		max = ARGS_MAX_BYTES;
	if (len > max) {
		len = max;
		flags |= EXEC_ARGS_TRUNCATED;
	}
	if (len > ARGS_MAX_BYTES || len == 0)
		return flags;
	if (bpf_probe_read_user(&data[*off & DATA_MASK], len, (void *)start) == 0)
		*off += len;
	return flags;
}

/* mute_exec flags the exec record of a process a suppress rule muted at this exec (the policy's
 * exec program runs before this one: the receiver attaches it first) and forgets a mute of the
 * image the process replaced. */
static __always_inline void mute_exec(struct event_header *h, struct task_struct *task)
{
	__u32 tgid = h->tgid;
	struct mute_val *m = bpf_map_lookup_elem(&osec_mute, &tgid);

	if (!m)
		return;
	if (m->exec_id == BPF_CORE_READ(task, self_exec_id))
		h->flags |= EVENT_HDR_SUPPRESSED;
	else
		bpf_map_delete_elem(&osec_mute, &tgid);
}

/* write_decisions appends the policy's decisions for this exec (osec_exec_dec), if any, and
 * clears them: the generation, then n entries. */
static __always_inline void write_decisions(struct task_struct *task, __u32 tgid, char *data, __u32 *off)
{
	__u32 zero = 0, n;
	struct exec_decisions *d = bpf_map_lookup_elem(&osec_exec_dec, &zero);

	if (!d || !d->n)
		return;
	n = d->n;
	d->n = 0;
	if (d->tgid != tgid || d->exec_id != BPF_CORE_READ(task, self_exec_id)) {
		/* Another exec's, whose exec record was never written (this program did not run
		 * for it): its decisions are lost, and counted as lost policy records. */
		struct sensor_stats *st = bpf_map_lookup_elem(&osec_stats, &zero);

		if (st)
			st->lost[EVENT_POLICY] += n;
		return;
	}
	if (n > EXEC_DECISIONS_MAX)
		n = EXEC_DECISIONS_MAX;
	if (bpf_probe_read_kernel(&data[*off & DATA_MASK], sizeof(d->generation), &d->generation))
		return;
	if (bpf_probe_read_kernel(&data[(*off + sizeof(d->generation)) & DATA_MASK],
				  (n * sizeof(d->d[0])) & (sizeof(d->d) * 2 - 1), d->d))
		return;
	*off += sizeof(d->generation) + n * sizeof(d->d[0]);
}

static __always_inline int handle_exec(struct task_struct *task, __u32 old_pid,
				       struct linux_binprm *bprm)
{
	__u32 zero = 0, off = 0, mark;
	struct exec_scratch *s = bpf_map_lookup_elem(&osec_exec_buf, &zero);
	struct exec_event *e;
	struct task_creds *prev;
	struct file *exe;
	struct walk_root root;
	struct inode *inode;
	long n;
	int r;

	if (!s)
		return 0;
	e = &s->e;
	fill_header(&e->hdr, EVENT_EXEC, task);
	mute_exec(&e->hdr, task);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->vpid = read_pid_ns(task, &e->ns.pid);
	e->start_boottime = BPF_CORE_READ(task, start_boottime);
	e->cgroup_id = task_cgroup_id(task);
	read_creds(task, &e->creds);
	read_audit(task, &e->loginuid, &e->sessionid);
	read_namespaces(task, &e->ns);
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), task->comm);
	e->flags = 0;
	e->args_total = 0;

	prev = bpf_map_lookup_elem(&osec_prev_creds, &old_pid);
	if (prev) {
		e->prev = *prev;
		e->flags |= EXEC_PREV_CREDS;
		bpf_map_delete_elem(&osec_prev_creds, &old_pid);
	} else {
		__builtin_memset(&e->prev, 0, sizeof(e->prev));
	}

	root.dentry = BPF_CORE_READ(task, fs, root.dentry);
	root.mnt = BPF_CORE_READ(task, fs, root.mnt);

	/* The executable as the kernel resolved it: mm->exe_file, which for a script is the
	 * interpreter (the script itself is in argv and the execve filename). */
	exe = BPF_CORE_READ(task, mm, exe_file);
	inode = BPF_CORE_READ(exe, f_inode);
	e->exe_mode = BPF_CORE_READ(inode, i_mode);
	e->exe_uid = BPF_CORE_READ(inode, i_uid.val);
	e->exe_gid = BPF_CORE_READ(inode, i_gid.val);
	if (BPF_CORE_READ(inode, __i_nlink) == 0)
		e->flags |= EXEC_PATH_DELETED;
	r = write_path(s->data, &off, BPF_CORE_READ(exe, f_path.dentry),
		       BPF_CORE_READ(exe, f_path.mnt), &root);
	if (r < 0)
		e->flags |= EXEC_PATH_UNRESOLVED;
	else if (r > 0)
		e->flags |= EXEC_PATH_TRUNCATED;
	e->path_len = off;

	mark = off;
	e->flags |= write_args(task, s->data, &off, &e->args_total);
	e->args_len = off - mark;

	mark = off;
	if (bprm) {
		n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], FILENAME_MAX_BYTES,
					      BPF_CORE_READ(bprm, filename));
		if (n > 0) {
			off += n;
			if (n == FILENAME_MAX_BYTES)
				e->flags |= EXEC_FILENAME_TRUNCATED;
		}
	}
	e->filename_len = off - mark;

	mark = off;
	r = write_path(s->data, &off, BPF_CORE_READ(task, fs, pwd.dentry),
		       BPF_CORE_READ(task, fs, pwd.mnt), &root);
	if (r < 0)
		e->flags |= EXEC_CWD_UNRESOLVED;
	else if (r > 0)
		e->flags |= EXEC_CWD_TRUNCATED;
	e->cwd_len = off - mark;

	mark = off;
	if (write_cgroup(s->data, &off, task_cgroup_kn(task)))
		e->flags |= EXEC_CGROUP_TRUNCATED;
	e->cgroup_len = off - mark;

	mark = off;
	write_decisions(task, e->hdr.tgid, s->data, &off);
	e->decisions_len = off - mark;

	if (off > DATA_MASK)
		off = DATA_MASK;
	emit(s, sizeof(*e) + off, EVENT_EXEC);
	return 0;
}

static __always_inline int handle_fork(struct task_struct *child)
{
	struct fork_event e = {};
	struct mute_val *m;
	__u32 forker = bpf_get_current_pid_tgid() >> 32;

	/* Threads share their group's process: only new thread groups matter to the tree. */
	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0;
	fill_header(&e.hdr, EVENT_FORK, child);
	e.ppid = BPF_CORE_READ(child, real_parent, tgid);
	/* A child of a muted process runs the same image until it execs: muted too. Its
	 * self_exec_id is its parent's, so the entry stays valid until then. */
	m = bpf_map_lookup_elem(&osec_mute, &forker);
	if (m) {
		struct mute_val c = *m;

		bpf_map_update_elem(&osec_mute, &e.hdr.tgid, &c, BPF_ANY);
	}
	e.start_boottime = BPF_CORE_READ(child, start_boottime);
	emit(&e, sizeof(e), EVENT_FORK);
	return 0;
}

static __always_inline int handle_exit(struct task_struct *task)
{
	struct exit_event e = {};

	/* Once per thread group: when its last thread exits. signal->live is decremented before
	 * this tracepoint; two threads racing can both see zero, and userspace drops the second. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	fill_header(&e.hdr, EVENT_EXIT, task);
	if (bpf_map_lookup_elem(&osec_mute, &e.hdr.tgid)) {
		e.hdr.flags |= EVENT_HDR_SUPPRESSED;
		bpf_map_delete_elem(&osec_mute, &e.hdr.tgid);
	}
	e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	e.exit_code = BPF_CORE_READ(task, exit_code);
	e.start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
	e.cgroup_id = task_cgroup_id(task);
	bpf_probe_read_kernel_str(e.comm, sizeof(e.comm), task->comm);
	emit(&e, sizeof(e), EVENT_EXIT);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(osec_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(p, old_pid, bprm);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(osec_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return handle_exec(p, old_pid, bprm);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(osec_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(osec_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork(child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(osec_exit_btf, struct task_struct *p)
{
	return handle_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(osec_exit_raw, struct task_struct *p)
{
	return handle_exit(p);
}
