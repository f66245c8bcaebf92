//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The privilege sensor: credential changes (setuid family, capset), namespace changes (clone,
 * unshare, setns), ptrace attach, kernel module loads, BPF program loads by other processes,
 * mounts.
 *
 * Most of it sits on the syscall tracepoints: the enter program saves what the syscall is about
 * to change (credentials, namespaces, the mount namespace's newest mount) by thread id, the exit
 * program compares or reads the result and emits a record only when the syscall succeeded and
 * changed something. One program per concern serves all of its syscalls; the loader fills
 * osec_sc_ops with this architecture's syscall numbers and attaches only what is enabled.
 * Where BPF LSM is active, credential changes can instead come from the task_fix_setuid,
 * task_fix_setgid and capset hooks, which hand over the old and the new credentials. A clone
 * into new namespaces is seen at sched_process_fork (tp_btf or raw_tp), and a module's name at
 * the module_load tracepoint. */

#include "common.h"
/* task.h's helpers this sensor does not use (write_cgroup) are no error. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#include "task.h"
#pragma clang diagnostic pop
#include "privilege_events.h"

/* The collector's own thread group: its BPF program loads are not reported (they are counted
 * as filtered). Set at load. */
const volatile __u32 self_tgid = 0;

/* Referenced so that their BTF reaches bpf2go, which generates the Go record types. */
const struct privilege_event *unused_privilege_event __attribute__((unused));
const struct namespace_event *unused_namespace_event __attribute__((unused));
const struct ptrace_event *unused_ptrace_event __attribute__((unused));
const struct module_event *unused_module_event __attribute__((unused));
const struct bpf_prog_event *unused_bpf_prog_event __attribute__((unused));
const struct mount_event *unused_mount_event __attribute__((unused));
const enum priv_op *unused_priv_op __attribute__((unused));
const enum privilege_flags *unused_privilege_flags __attribute__((unused));
const enum ptrace_event_flags *unused_ptrace_flags __attribute__((unused));
const enum module_event_flags *unused_module_flags __attribute__((unused));
const enum mount_event_flags *unused_mount_flags __attribute__((unused));

/* Syscall number -> enum priv_op, for the syscalls this sensor is attached to. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__type(key, __s32);
	__type(value, __u32);
} osec_sc_ops SEC(".maps");

/* What a syscall's enter saw, by thread id, until its exit. */
struct sc_state {
	__u32 op;
	__u32 mod_seen;
	__u64 args[6];
	__u64 mark; /* mount: the namespace's newest mount; move_mount: the mount being moved */
	__u64 taints;
	struct task_creds creds;
	struct ns_set ns;
	char mod_name[56];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct sc_state);
} osec_sc_state SEC(".maps");

/* Variable-length records are built here. The running offset into data lives in the map value
 * too: loaded from there it is an unknown scalar to the verifier, so the states of a path walk's
 * iterations do not differ by its range and are pruned. On the stack, the same walk can exceed
 * the verifier's budget depending on the code around it. */
struct module_scratch {
	__u32 off;
	__u32 pad;
	struct module_event e;
	char data[DATA_SIZE];
};

struct mount_scratch {
	__u32 off;
	__u32 pad;
	struct mount_event e;
	char data[DATA_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct module_scratch);
} osec_mod_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mount_scratch);
} osec_mnt_buf SEC(".maps");

/* The records of the per-syscall tracepoints as BPF programs see them: the syscall number at
 * offset 8, then the six arguments (enter) or the return value (exit). Arguments are read with
 * bpf_probe_read_kernel: a direct read past the smallest attached event's fields would make the
 * attach fail. */
struct sc_enter_ctx {
	__u64 unused;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sc_exit_ctx {
	__u64 unused;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define BPF_PROG_LOAD_CMD 5
#define MS_REMOUNT 32
#define MS_BIND 4096
#define MS_MOVE 8192
#define MS_PROPAGATION ((1 << 17) | (1 << 18) | (1 << 19) | (1 << 20))
#define MOVE_MOUNT_F_EMPTY_PATH 0x4

static __always_inline __u32 current_tid(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* sc_op is the op of syscall number nr, 0 for a syscall this sensor does not follow. */
static __always_inline __u32 sc_op(__s32 nr)
{
	__u32 *op = bpf_map_lookup_elem(&osec_sc_ops, &nr);

	return op ? *op : 0;
}

static __always_inline void save_state(struct sc_state *st)
{
	__u32 tid = current_tid();

	bpf_map_update_elem(&osec_sc_state, &tid, st, BPF_ANY);
}

/* take_state copies the state of this thread's syscall into st and removes it. It fails when there
 * is none, or it belongs to another syscall (an exit never seen). */
static __always_inline int take_state(struct sc_exit_ctx *ctx, struct sc_state *st)
{
	__u32 tid = current_tid();
	struct sc_state *s = bpf_map_lookup_elem(&osec_sc_state, &tid);
	__u32 op = sc_op(ctx->nr);

	if (!s)
		return -1;
	*st = *s;
	bpf_map_delete_elem(&osec_sc_state, &tid);
	if (!op || st->op != op)
		return -1;
	return 0;
}

static __always_inline void read_args(struct sc_enter_ctx *ctx, __u64 *args)
{
	bpf_probe_read_kernel(args, 6 * sizeof(__u64), &ctx->args);
}

/* ---- credentials ---- */

static __always_inline void read_cred(const struct cred *cred, struct task_creds *c)
{
	c->uid = BPF_CORE_READ(cred, uid.val);
	c->gid = BPF_CORE_READ(cred, gid.val);
	c->euid = BPF_CORE_READ(cred, euid.val);
	c->egid = BPF_CORE_READ(cred, egid.val);
	c->suid = BPF_CORE_READ(cred, suid.val);
	c->sgid = BPF_CORE_READ(cred, sgid.val);
	c->fsuid = BPF_CORE_READ(cred, fsuid.val);
	c->fsgid = BPF_CORE_READ(cred, fsgid.val);
	c->cap_effective = read_caps(__builtin_preserve_access_index(&cred->cap_effective));
	c->cap_permitted = read_caps(__builtin_preserve_access_index(&cred->cap_permitted));
	c->cap_inheritable = read_caps(__builtin_preserve_access_index(&cred->cap_inheritable));
}

static __always_inline int creds_equal(const struct task_creds *a, const struct task_creds *b)
{
	return a->uid == b->uid && a->gid == b->gid && a->euid == b->euid && a->egid == b->egid &&
	       a->suid == b->suid && a->sgid == b->sgid && a->fsuid == b->fsuid &&
	       a->fsgid == b->fsgid && a->cap_effective == b->cap_effective &&
	       a->cap_permitted == b->cap_permitted && a->cap_inheritable == b->cap_inheritable;
}

static __always_inline void emit_privilege(struct privilege_event *e, __u32 op, __u32 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (creds_equal(&e->old, &e->new))
		return;
	fill_header(&e->hdr, EVENT_PRIVILEGE, task);
	e->op = op;
	e->flags = flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	emit(e, sizeof(*e), EVENT_PRIVILEGE);
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int osec_cred_enter(struct sc_enter_ctx *ctx)
{
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_creds((struct task_struct *)bpf_get_current_task(), &st.creds);
	save_state(&st);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_setuid")
int osec_cred_exit(struct sc_exit_ctx *ctx)
{
	struct privilege_event e = {};
	struct sc_state st;

	if (take_state(ctx, &st) || ctx->ret < 0)
		return 0;
	e.old = st.creds;
	read_creds((struct task_struct *)bpf_get_current_task(), &e.new);
	emit_privilege(&e, st.op, 0);
	return 0;
}

/* LSM_SETID_* of task_fix_setuid/setgid. */
#define LSM_SETID_ID 1
#define LSM_SETID_RE 2
#define LSM_SETID_RES 4
#define LSM_SETID_FS 8

static __always_inline __u32 setid_op(int flags, int gid)
{
	switch (flags) {
	case LSM_SETID_ID:
		return gid ? PRIV_OP_SETGID : PRIV_OP_SETUID;
	case LSM_SETID_RE:
		return gid ? PRIV_OP_SETREGID : PRIV_OP_SETREUID;
	case LSM_SETID_RES:
		return gid ? PRIV_OP_SETRESGID : PRIV_OP_SETRESUID;
	case LSM_SETID_FS:
		return gid ? PRIV_OP_SETFSGID : PRIV_OP_SETFSUID;
	}
	return 0;
}

/* The hooks run after every check of the syscall (the bpf LSM comes last): the new credentials
 * are committed next, unless memory runs out. They never deny. */
static __always_inline void lsm_creds(const struct cred *old, const struct cred *new, __u32 op)
{
	struct privilege_event e = {};

	if (!op)
		return;
	read_cred(old, &e.old);
	read_cred(new, &e.new);
	emit_privilege(&e, op, PRIVF_FROM_LSM);
}

SEC("lsm/task_fix_setuid")
int BPF_PROG(osec_lsm_setuid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret == 0)
		lsm_creds(old, new, setid_op(flags, 0));
	return 0;
}

SEC("lsm/task_fix_setgid")
int BPF_PROG(osec_lsm_setgid, struct cred *new, const struct cred *old, int flags, int ret)
{
	if (ret == 0)
		lsm_creds(old, new, setid_op(flags, 1));
	return 0;
}

SEC("lsm/capset")
int BPF_PROG(osec_lsm_capset, struct cred *new, const struct cred *old,
	     const kernel_cap_t *effective, const kernel_cap_t *inheritable,
	     const kernel_cap_t *permitted, int ret)
{
	if (ret == 0)
		lsm_creds(old, new, PRIV_OP_CAPSET);
	return 0;
}

/* ---- namespaces ---- */

static __always_inline void read_ns_set(struct task_struct *task, struct ns_set *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ns->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	read_pid_ns(task, &ns->pid);
	ns->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->user = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
	ns->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns->pid_children = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) {
		ns->time = BPF_CORE_READ(nsp, time_ns, ns.inum);
		ns->time_children = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
	}
}

static __always_inline __u32 ns_changed(const struct ns_set *a, const struct ns_set *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 changed = 0;
	int i;

#pragma unroll
	for (i = 0; i < NS_SET_FIELDS; i++)
		if (x[i] != y[i])
			changed |= 1 << i;
	return changed;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int osec_ns_enter(struct sc_enter_ctx *ctx)
{
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_args(ctx, st.args);
	read_ns_set((struct task_struct *)bpf_get_current_task(), &st.ns);
	save_state(&st);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int osec_ns_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct namespace_event e = {};
	struct sc_state st;

	if (take_state(ctx, &st) || ctx->ret != 0)
		return 0;
	e.old = st.ns;
	read_ns_set(task, &e.new);
	e.changed = ns_changed(&e.old, &e.new);
	if (!e.changed)
		return 0;
	fill_header(&e.hdr, EVENT_SECURITY, task);
	e.op = st.op;
	if (st.op == PRIV_OP_SETNS) {
		e.fd = (__s32)st.args[0];
		e.arg = st.args[1];
	} else {
		e.fd = -1;
		e.arg = st.args[0];
	}
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	emit(&e, sizeof(e), EVENT_SECURITY);
	return 0;
}

/* A new task in other namespaces than its parent's: clone(CLONE_NEW*), or a fork after
 * unshare(CLONE_NEWPID) or setns into a pid namespace. The record is the child's. */
static __always_inline int handle_fork_ns(struct task_struct *parent, struct task_struct *child)
{
	struct namespace_event e = {};

	/* Most forks share their parent's nsproxy and user namespace, and land in its pid
	 * namespace (same level: pid_ns_for_children is the parent's own or a descendant). */
	if (BPF_CORE_READ(child, nsproxy) == BPF_CORE_READ(parent, nsproxy) &&
	    BPF_CORE_READ(child, real_cred, user_ns) == BPF_CORE_READ(parent, real_cred, user_ns) &&
	    BPF_CORE_READ(child, thread_pid, level) == BPF_CORE_READ(parent, thread_pid, level))
		return 0;
	read_ns_set(parent, &e.old);
	read_ns_set(child, &e.new);
	e.changed = ns_changed(&e.old, &e.new);
	if (!e.changed)
		return 0;
	fill_header(&e.hdr, EVENT_SECURITY, child);
	e.op = PRIV_OP_CLONE;
	e.fd = -1;
	bpf_probe_read_kernel_str(e.comm, sizeof(e.comm), child->comm);
	emit(&e, sizeof(e), EVENT_SECURITY);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(osec_nsfork_btf, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork_ns(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(osec_nsfork_raw, struct task_struct *parent, struct task_struct *child)
{
	return handle_fork_ns(parent, child);
}

/* ---- ptrace ---- */

/* pid_nr_at returns the task's pid number in the pid namespace at level (0 if it has none
 * there). */
static __always_inline __u32 pid_nr_at(struct task_struct *t, unsigned int level)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	struct upid up = {};

	if (BPF_CORE_READ(pid, level) < level)
		return 0;
	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	return up.nr;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int osec_ptr_enter(struct sc_enter_ctx *ctx)
{
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_args(ctx, st.args);
	if (st.args[0] != PTRACE_ATTACH && st.args[0] != PTRACE_SEIZE &&
	    st.args[0] != PTRACE_TRACEME)
		return 0;
	save_state(&st);
	return 0;
}

static __always_inline void fill_tracee(struct ptrace_event *e, struct task_struct *t)
{
	e->flags |= PTRF_TRACEE_FOUND;
	e->tracee_tgid = BPF_CORE_READ(t, tgid);
	e->tracee_tid = BPF_CORE_READ(t, pid);
	e->tracee_start = BPF_CORE_READ(t, group_leader, start_boottime);
	bpf_probe_read_kernel_str(e->tracee_comm, sizeof(e->tracee_comm), t->comm);
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int osec_ptr_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct ptrace_event e = {};
	struct sc_state st;
	int i;

	if (take_state(ctx, &st) || ctx->ret != 0)
		return 0;
	fill_header(&e.hdr, EVENT_SECURITY, task);
	e.op = st.op;
	e.request = (__s64)st.args[0];
	e.pid_arg = (__u32)st.args[1];
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	if (e.request == PTRACE_TRACEME) {
		struct task_struct *tracer = BPF_CORE_READ(task, parent);

		e.pid_arg = 0;
		e.tracer_tgid = BPF_CORE_READ(tracer, tgid);
		e.tracer_tid = BPF_CORE_READ(tracer, pid);
		fill_tracee(&e, task);
	} else {
		/* The tracee was just added at the head of the caller's ptraced list. */
		struct list_head *head = __builtin_preserve_access_index(&task->ptraced);
		struct list_head *pos = BPF_CORE_READ(task, ptraced.next);
		unsigned int level = BPF_CORE_READ(task, thread_pid, level);

		e.tracer_tgid = e.hdr.tgid;
		e.tracer_tid = e.hdr.tid;
		for (i = 0; i < 16; i++) {
			struct task_struct *t;

			if (!pos || pos == head)
				break;
			t = container_of(pos, struct task_struct, ptrace_entry);
			if (pid_nr_at(t, level) == e.pid_arg) {
				fill_tracee(&e, t);
				break;
			}
			pos = BPF_CORE_READ(pos, next);
		}
	}
	emit(&e, sizeof(e), EVENT_SECURITY);
	return 0;
}

/* ---- files by descriptor ---- */

static __always_inline struct file *fd_file(struct task_struct *task, __s64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline void task_root(struct task_struct *task, struct walk_root *root)
{
	root->dentry = BPF_CORE_READ(task, fs, root.dentry);
	root->mnt = BPF_CORE_READ(task, fs, root.mnt);
}

static __always_inline __u16 put_user_str(char *data, __u32 *off, const void *p, __u32 max, int *trunc)
{
	long n;

	if (!p)
		return 0;
	n = bpf_probe_read_user_str(&data[*off & DATA_MASK], max, p);
	if (n <= 0)
		return 0;
	if (n == max)
		*trunc = 1;
	*off += n;
	return n;
}

static __always_inline __u16 put_kernel_str(char *data, __u32 *off, const void *p, __u32 max, int *trunc)
{
	long n;

	if (!p)
		return 0;
	n = bpf_probe_read_kernel_str(&data[*off & DATA_MASK], max, p);
	if (n <= 0)
		return 0;
	if (n == max)
		*trunc = 1;
	*off += n;
	return n;
}

/* ---- kernel modules ---- */

SEC("tracepoint/syscalls/sys_enter_finit_module")
int osec_mod_enter(struct sc_enter_ctx *ctx)
{
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_args(ctx, st.args);
	save_state(&st);
	return 0;
}

/* module_load fires in the loading task once the module is formed, before its init runs. */
static __always_inline int on_module_load(struct module *mod)
{
	__u32 tid = current_tid();
	struct sc_state *st = bpf_map_lookup_elem(&osec_sc_state, &tid);

	if (!st || (st->op != PRIV_OP_INIT_MODULE && st->op != PRIV_OP_FINIT_MODULE))
		return 0;
	bpf_core_read_str(st->mod_name, sizeof(st->mod_name), &mod->name);
	st->taints = BPF_CORE_READ(mod, taints);
	st->mod_seen = 1;
	return 0;
}

SEC("tp_btf/module_load")
int BPF_PROG(osec_modld_btf, struct module *mod)
{
	return on_module_load(mod);
}

SEC("raw_tp/module_load")
int BPF_PROG(osec_modld_raw, struct module *mod)
{
	return on_module_load(mod);
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int osec_mod_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0, mark, off;
	struct module_scratch *s;
	struct module_event *e;
	struct sc_state st;
	const char *uargs;
	int trunc = 0;

	if (take_state(ctx, &st) || ctx->ret != 0)
		return 0;
	s = bpf_map_lookup_elem(&osec_mod_buf, &zero);
	if (!s)
		return 0;
	e = &s->e;
	s->off = 0;
	fill_header(&e->hdr, EVENT_SECURITY, task);
	e->op = st.op;
	e->flags = 0;
	e->taints = 0;
	e->load_flags = 0;
	e->size = 0;
	__builtin_memset(e->name, 0, sizeof(e->name));
	if (st.mod_seen) {
		e->flags |= MODF_NAME_KNOWN;
		__builtin_memcpy(e->name, st.mod_name, sizeof(e->name));
		e->taints = st.taints;
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (st.op == PRIV_OP_FINIT_MODULE) {
		struct file *f = fd_file(task, (__s32)st.args[0]);
		struct walk_root root;
		int r = -1;

		e->load_flags = (__u32)st.args[2];
		uargs = (const char *)st.args[1];
		if (f) {
			task_root(task, &root);
			e->size = BPF_CORE_READ(f, f_inode, i_size);
			r = write_path(s->data, &s->off, BPF_CORE_READ(f, f_path.dentry),
				       BPF_CORE_READ(f, f_path.mnt), &root);
		}
		if (r < 0)
			e->flags |= MODF_PATH_UNRESOLVED;
		else if (r > 0)
			e->flags |= MODF_PATH_TRUNCATED;
	} else {
		e->size = st.args[1];
		uargs = (const char *)st.args[2];
	}
	mark = s->off;
	e->path_len = mark;
	put_user_str(s->data, &s->off, uargs, MODULE_ARGS_MAX_BYTES, &trunc);
	if (trunc)
		e->flags |= MODF_ARGS_TRUNCATED;
	off = s->off;
	e->args_len = off - mark;
	if (off > DATA_MASK)
		off = DATA_MASK;
	emit(e, sizeof(*e) + off, EVENT_SECURITY);
	return 0;
}

/* ---- BPF programs ---- */

SEC("tracepoint/syscalls/sys_enter_bpf")
int osec_bpf_enter(struct sc_enter_ctx *ctx)
{
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_args(ctx, st.args);
	if (st.args[0] != BPF_PROG_LOAD_CMD)
		return 0;
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == self_tgid) {
		count_filtered(EVENT_SECURITY);
		return 0;
	}
	save_state(&st);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int osec_bpf_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct bpf_prog_event e = {};
	struct bpf_prog_aux *aux;
	struct bpf_prog *prog;
	const char *target;
	struct sc_state st;
	struct file *f;

	if (take_state(ctx, &st) || ctx->ret < 0)
		return 0;
	f = fd_file(task, ctx->ret);
	prog = BPF_CORE_READ(f, private_data);
	aux = BPF_CORE_READ(prog, aux);
	if (!f || !prog || BPF_CORE_READ(aux, prog) != prog)
		return 0; /* the descriptor no longer holds the program */
	fill_header(&e.hdr, EVENT_SECURITY, task);
	e.op = st.op;
	e.prog_type = BPF_CORE_READ(prog, type);
	e.attach_type = BPF_CORE_READ(prog, expected_attach_type);
	e.prog_id = BPF_CORE_READ(aux, id);
	e.insn_cnt = BPF_CORE_READ(prog, len);
	bpf_core_read(e.tag, sizeof(e.tag), &prog->tag);
	bpf_core_read(e.name, sizeof(e.name), &aux->name);
	target = BPF_CORE_READ(aux, attach_func_name);
	if (target)
		bpf_probe_read_kernel_str(e.attach_func, sizeof(e.attach_func), target);
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	emit(&e, sizeof(e), EVENT_SECURITY);
	return 0;
}

/* ---- mounts ---- */

/* mnt_namespace before 6.8 kept its mounts in a list, in the order they were attached. */
struct mnt_namespace___pre68 {
	struct list_head list;
} __attribute__((preserve_access_index));

static __always_inline struct mount *rb_mount(struct rb_node *n)
{
	return container_of(n, struct mount, mnt_node);
}

/* mount_mark remembers the newest mount of the task's mount namespace: the id of the rightmost
 * mount in the namespace's tree (6.8+, ordered by mnt_id_unique), or the list's tail. */
static __always_inline __u64 mount_mark(struct task_struct *task)
{
	struct mnt_namespace *ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	struct rb_node *n, *r;
	int i;

	if (!bpf_core_field_exists(ns->mounts))
		return (__u64)BPF_CORE_READ((struct mnt_namespace___pre68 *)ns, list.prev);
	n = BPF_CORE_READ(ns, mounts.rb_node);
	if (!n)
		return 0;
	for (i = 0; i < 64; i++) {
		r = BPF_CORE_READ(n, rb_right);
		if (!r)
			break;
		n = r;
	}
	return BPF_CORE_READ(rb_mount(n), mnt_id_unique);
}

/* new_mount finds the first mount attached to the task's namespace after mark: the one the
 * syscall created (propagated copies are created after it). */
static __always_inline struct mount *new_mount(struct task_struct *task, __u64 mark)
{
	struct mnt_namespace *ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	struct mount *best = NULL;
	struct rb_node *n;
	int i;

	if (!bpf_core_field_exists(ns->mounts)) {
		struct mnt_namespace___pre68 *old = (void *)ns;
		struct list_head *head = __builtin_preserve_access_index(&old->list);
		struct list_head *next = BPF_CORE_READ((struct list_head *)mark, next);

		if (!mark || !next || next == head)
			return NULL;
		best = container_of(next, struct mount, mnt_list);
	} else {
		n = BPF_CORE_READ(ns, mounts.rb_node);
		for (i = 0; i < 64 && n; i++) {
			struct mount *m = rb_mount(n);

			if (BPF_CORE_READ(m, mnt_id_unique) > mark) {
				best = m;
				n = BPF_CORE_READ(n, rb_left);
			} else {
				n = BPF_CORE_READ(n, rb_right);
			}
		}
	}
	if (best && BPF_CORE_READ(best, mnt_ns) != ns)
		return NULL;
	return best;
}

/* same_fstype compares the filesystem type the caller asked for with the new mount's:
 * "fuse.sshfs" names the type "fuse". */
static __always_inline int same_fstype(const char *want_user, const char *have_kernel)
{
	char want[MOUNT_FSTYPE_MAX_BYTES] = {}, have[MOUNT_FSTYPE_MAX_BYTES] = {};
	int i;

	if (!want_user || !have_kernel)
		return 0;
	if (bpf_probe_read_user_str(want, sizeof(want), want_user) <= 0 ||
	    bpf_probe_read_kernel_str(have, sizeof(have), have_kernel) <= 0)
		return 0;
	for (i = 0; i < MOUNT_FSTYPE_MAX_BYTES; i++) {
		if (have[i] == 0)
			return want[i] == 0 || want[i] == '.';
		if (want[i] != have[i])
			return 0;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mount")
int osec_mnt_enter(struct sc_enter_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct sc_state st = {};

	st.op = sc_op(ctx->nr);
	if (!st.op)
		return 0;
	read_args(ctx, st.args);
	if (st.op == PRIV_OP_MOUNT) {
		st.mark = mount_mark(task);
	} else if (st.op == PRIV_OP_MOVE_MOUNT && (st.args[4] & MOVE_MOUNT_F_EMPTY_PATH)) {
		struct file *f = fd_file(task, (__s32)st.args[0]);
		struct vfsmount *mnt = BPF_CORE_READ(f, f_path.mnt);

		if (f && mnt)
			st.mark = (__u64)container_of(mnt, struct mount, mnt);
	}
	save_state(&st);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mount")
int osec_mnt_exit(struct sc_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0, mark, off;
	struct mount_scratch *s;
	struct mount_event *e;
	struct mount *m = NULL;
	const void *source = NULL, *fstype = NULL, *target = NULL, *options = NULL;
	struct sc_state st;
	int trunc = 0;

	if (take_state(ctx, &st) || ctx->ret != 0)
		return 0;
	s = bpf_map_lookup_elem(&osec_mnt_buf, &zero);
	if (!s)
		return 0;
	e = &s->e;
	s->off = 0;
	fill_header(&e->hdr, EVENT_SECURITY, task);
	e->op = st.op;
	e->flags = 0;
	e->mnt_flags = 0;
	e->sb_flags = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	switch (st.op) {
	case PRIV_OP_MOUNT:
		e->mount_flags = st.args[3];
		source = (const void *)st.args[0];
		target = (const void *)st.args[1];
		fstype = (const void *)st.args[2];
		options = (const void *)st.args[4];
		if (!(st.args[3] & (MS_REMOUNT | MS_MOVE | MS_PROPAGATION))) {
			m = new_mount(task, st.mark);
			if (m && !(st.args[3] & MS_BIND) &&
			    !same_fstype(fstype, BPF_CORE_READ(m, mnt.mnt_sb, s_type, name)))
				m = NULL;
		}
		break;
	case PRIV_OP_MOVE_MOUNT:
		e->mount_flags = st.args[4];
		target = (const void *)st.args[3];
		m = (struct mount *)st.mark;
		break;
	case PRIV_OP_UMOUNT:
		e->mount_flags = st.args[1];
		target = (const void *)st.args[0];
		break;
	default:
		return 0;
	}

	if (m) {
		struct super_block *sb = BPF_CORE_READ(m, mnt.mnt_sb);

		e->flags |= MNTF_FROM_MOUNT;
		e->mnt_flags = BPF_CORE_READ(m, mnt.mnt_flags);
		e->sb_flags = BPF_CORE_READ(sb, s_flags);
		e->source_len = put_kernel_str(s->data, &s->off, BPF_CORE_READ(m, mnt_devname),
					       MOUNT_STR_MAX_BYTES, &trunc);
		if (trunc)
			e->flags |= MNTF_SOURCE_TRUNCATED;
		e->fstype_len = put_kernel_str(s->data, &s->off, BPF_CORE_READ(sb, s_type, name),
					       MOUNT_FSTYPE_MAX_BYTES, &trunc);
	} else {
		e->source_len = put_user_str(s->data, &s->off, source, MOUNT_STR_MAX_BYTES, &trunc);
		if (trunc)
			e->flags |= MNTF_SOURCE_TRUNCATED;
		e->fstype_len = put_user_str(s->data, &s->off, fstype, MOUNT_FSTYPE_MAX_BYTES, &trunc);
	}

	mark = s->off;
	trunc = 0;
	if (m) {
		struct walk_root root;
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);
		int r;

		task_root(task, &root);
		r = write_path(s->data, &s->off, BPF_CORE_READ(m, mnt_mountpoint),
			       __builtin_preserve_access_index(&parent->mnt), &root);
		if (r >= 0)
			e->flags |= MNTF_TARGET_RESOLVED;
		if (r > 0)
			e->flags |= MNTF_TARGET_TRUNCATED;
	}
	if (!(e->flags & MNTF_TARGET_RESOLVED)) {
		s->off = mark;
		put_user_str(s->data, &s->off, target, MOUNT_STR_MAX_BYTES, &trunc);
		if (trunc)
			e->flags |= MNTF_TARGET_TRUNCATED;
	}
	e->target_len = s->off - mark;

	trunc = 0;
	e->options_len = put_user_str(s->data, &s->off, options, MOUNT_OPTIONS_MAX_BYTES, &trunc);
	if (trunc)
		e->flags |= MNTF_OPTIONS_TRUNCATED;
	off = s->off;
	if (off > DATA_MASK)
		off = DATA_MASK;
	emit(e, sizeof(*e) + off, EVENT_SECURITY);
	return 0;
}
