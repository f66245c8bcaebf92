//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The file sensor: open, unlink, rename, chmod, chown, truncate, link, symlink, mkdir, rmdir.
 *
 * Two backends share the syscall exit tracepoints (syscalls/sys_exit_<syscall>), which read
 * the call's arguments from the registers the task entered the kernel with (its saved
 * pt_regs, which the syscall does not change) and have its result:
 *
 *   tracepoint  the exit builds the record: a successful open's path from the new fd's struct
 *               file, an fd-based call's (fchmod, fchown, ftruncate) from its fd, the others
 *               lexically from the dirfd's or cwd's walk and the caller's string.
 *   lsm         BPF LSM hooks (file_open, path_*) build the record from the kernel's own
 *               objects: the path is that of the object the kernel is about to act on. Inside
 *               a watched syscall (its number, in the same registers, is in osec_f_sysops) the
 *               hook holds its record per thread until the exit adds the result, and the
 *               arguments only the syscall knows (open's flags, truncate's length). A call that
 *               fails before its hook (ENOENT, EACCES from the permission check, an earlier
 *               LSM's denial) is reported by the exit as in the tracepoint backend. A hook
 *               outside a watched syscall (io_uring, a kernel thread, no syscall tracepoints)
 *               sends its record at once, without a result (FILE_NO_SYSCALL).
 *
 * Every record passes the filters first (file.h): only watched paths leave the kernel, and
 * everything dropped is counted (count_filtered). */

#include "common.h"
#include "file.h"

/* Referenced so that their BTF reaches bpf2go, which generates the Go types. */
const struct file_event *unused_file_event __attribute__((unused));
const enum file_op *unused_file_op __attribute__((unused));
const enum file_mask *unused_file_mask __attribute__((unused));
const enum file_flags *unused_file_flags __attribute__((unused));
const struct file_key *unused_file_key __attribute__((unused));
const struct file_rule *unused_file_rule __attribute__((unused));
const struct file_wild *unused_file_wild __attribute__((unused));
const struct file_first *unused_file_first __attribute__((unused));

/* A watched syscall's arguments, normalized. */
struct file_call {
	__u8 op;
	__u8 fd_based; /* the object is the fd in dfd (fchmod, fchown, ftruncate) */
	__u16 pad;
	__s32 dfd;     /* the path's dirfd */
	__s32 dfd2;    /* rename, link: the old path's dirfd */
	__u32 flags;   /* reported: O_* (open), RENAME_* (rename), AT_* (others) */
	__u32 at;      /* AT_* flags that change the lookup (AT_EMPTY_PATH) */
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u64 name;    /* the path's user string */
	__u64 name2;   /* rename, link: the old path's; symlink: the target */
	__s64 size;
};

/* What an LSM hook did with the current syscall of a thread. */
enum hook_state {
	HOOK_DROPPED = 1, /* its record was filtered out */
	HOOK_HELD = 2,    /* its record waits in osec_f_held for the result */
	HOOK_SENT = 3,    /* its record was sent without the result (osec_f_held was full) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32); /* thread id */
	__type(value, __u32); /* enum hook_state */
} osec_f_hook SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* thread id */
	__type(value, struct file_held);
} osec_f_held SEC(".maps");

/* The watched syscalls by number: the operations (1 << enum file_op) of the hooks they reach.
 * Filled by the loader with the syscalls whose exit tracepoint it attached. */
#define FILE_SYSCALLS_MAX 1024
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FILE_SYSCALLS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} osec_f_sysops SEC(".maps");

/* Set by the loader: the syscall exit tracepoints are attached; LSM hooks are attached. */
const volatile __u32 have_syscalls = 0;
const volatile __u32 have_lsm = 0;

/* The registers the current task entered the kernel with, and its syscall's arguments in
 * them. arm64's are described here: vmlinux.h is x86-64's. */
#if defined(__TARGET_ARCH_arm64)
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} __attribute__((preserve_access_index));
struct pt_regs___nr {
	__s32 syscallno;
} __attribute__((preserve_access_index));
#define SYSCALL_NR(regs) BPF_CORE_READ((struct pt_regs___nr *)(regs), syscallno)
#else
#define SYSCALL_NR(regs) BPF_CORE_READ((regs), orig_ax)
#endif

static __always_inline struct pt_regs *sys_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#define ARG(n) ((__u64)PT_REGS_PARM##n##_CORE_SYSCALL(regs))

/* Returns that mean "the syscall will be restarted": its retry is reported, not this. */
#define ERESTARTSYS 512
#define ERESTART_RESTARTBLOCK 516

static __always_inline int restarting(long ret)
{
	return ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK;
}

/* ---- syscall exit: the result ---- */

/* put_fd appends the path of the task's fd. Returns the struct file, 0, or FD_FILTERED when
 * put_path dropped it early (w->c.early). */
#define FD_FILTERED 1
static __always_inline __u64 put_fd(struct file_buf *b, struct file_work *w, int fd)
{
	struct file *f = fd_file(fd);
	struct path fp = {};
	int r;

	if (!f)
		return 0;
	BPF_CORE_READ_INTO(&fp, f, f_path);
	r = put_path(b, w, (__u64)fp.dentry, (__u64)fp.mnt);
	if (r == PUT_FILTERED)
		return FD_FILTERED;
	if (r)
		return 0;
	return (__u64)f;
}

/* exit_build builds the record of a syscall no LSM hook handled, and sends it if it is watched. */
__noinline int exit_build(struct file_call *p, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct file_event *e;
	struct file *opened = NULL;
	__u32 op, bit, unm = 0;
	int r = LEX_OK;

	if (!b || !w || !p)
		return 0;
	op = p->op;
	e = &b->e;
	begin_record(e, op);
	e->flags = FILE_RESULT_KNOWN;
	cur_reset(w, 0);
	bit = op_mask(op);

	/* the path; one taken from an fd decides alone whether the record is kept, so put_path may
	 * drop it by its first component (w->c.early) */
	if (op == FILE_OP_OPEN && ret >= 0) {
		w->c.early = 1;
		opened = (struct file *)put_fd(b, w, ret);
		if ((__u64)opened == FD_FILTERED)
			goto filtered;
		if (!opened)
			r = LEX_UNRESOLVED;
		else if (BPF_CORE_READ(opened, f_mode) & FMODE_CREATED)
			e->flags |= FILE_CREATED;
		bit = open_mask(p->flags, e->flags & FILE_CREATED, 0);
	} else if (p->fd_based) {
		__u64 f;

		w->c.early = 1;
		f = put_fd(b, w, p->dfd);
		if (f == FD_FILTERED)
			goto filtered;
		if (!f)
			r = LEX_UNRESOLVED;
	} else {
		r = put_lexical(b, w, p->dfd, p->name, op == FILE_OP_LINK ? 0 : p->at);
		if (r == LEX_OK)
			e->flags |= FILE_PATH_LEXICAL;
		if (op == FILE_OP_OPEN)
			bit = open_mask(p->flags, 0, ret < 0);
	}
	if (r == LEX_UNRESOLVED) {
		e->flags |= FILE_PATH_UNRESOLVED;
		unm |= UNMATCHABLE1;
		w->c.off = 0;
	} else {
		if (w->c.trunc)
			e->flags |= FILE_PATH_TRUNCATED;
		if (w->c.trunc & TRUNC_DEPTH)
			unm |= UNMATCHABLE1;
		e->path_len = finish_path(b, w);
	}

	/* the second path, or the symlink's target */
	if (op == FILE_OP_RENAME || op == FILE_OP_LINK) {
		cur_reset(w, w->c.off);
		r = put_lexical(b, w, p->dfd2, p->name2, p->at);
		if (r == LEX_UNRESOLVED) {
			e->flags |= FILE_PATH2_UNRESOLVED;
			unm |= UNMATCHABLE2;
			w->c.off = w->c.start;
		} else {
			if (w->c.trunc)
				e->flags |= FILE_PATH2_TRUNCATED;
			if (w->c.trunc & TRUNC_DEPTH)
				unm |= UNMATCHABLE2;
			e->path2_len = finish_path(b, w);
		}
	} else if (op == FILE_OP_SYMLINK) {
		long n = bpf_probe_read_user_str(&b->data[w->c.off & FDATA_MASK], PATH_MAX_BYTES,
						 (void *)p->name2);

		if (n > 0) {
			e->path2_len = n;
			if (n == PATH_MAX_BYTES)
				e->flags |= FILE_PATH2_TRUNCATED;
		} else {
			e->flags |= FILE_PATH2_UNRESOLVED;
		}
	}

	if (ret < 0) /* a failed call's unusable paths are not evaluated, not kept */
		unm = (unm & UNMATCHABLE1 ? SKIP1 : 0) | (unm & UNMATCHABLE2 ? SKIP2 : 0);
	if (!keep_record(bit, unm))
		goto filtered;

	/* kept: who, when, the result, and what changed */
	identify(e);
	e->result = ret;
	e->open_flags = p->flags;
	if (opened)
		inode_info(e, opened);
	switch (op) {
	case FILE_OP_CHMOD:
		e->mode = p->mode & 07777;
		e->flags |= FILE_MODE_KNOWN;
		break;
	case FILE_OP_MKDIR:
		e->mode = p->mode & 07777 & ~BPF_CORE_READ(task, fs, umask);
		e->flags |= FILE_MODE_KNOWN;
		break;
	case FILE_OP_CHOWN:
		e->uid = p->uid;
		e->gid = p->gid;
		if (p->uid != (__u32)-1)
			e->flags |= FILE_UID_KNOWN;
		if (p->gid != (__u32)-1)
			e->flags |= FILE_GID_KNOWN;
		break;
	case FILE_OP_TRUNCATE:
		e->size = p->size;
		e->flags |= FILE_SIZE_KNOWN;
		break;
	}
	emit(b, record_size(e), EVENT_FILE);
	return 0;
filtered:
	count_filtered(EVENT_FILE);
	return 0;
}

/* release_held sends the record an LSM hook held, with the syscall's result and the arguments
 * only the syscall knows. */
static __always_inline void release_held(__u32 tid, long ret, struct file_call *c)
{
	struct file_held *h = bpf_map_lookup_elem(&osec_f_held, &tid);

	if (!h)
		return;
	if (!restarting(ret)) {
		h->e.result = ret;
		h->e.flags |= FILE_RESULT_KNOWN;
		h->e.open_flags = c->flags;
		if (h->e.op == FILE_OP_TRUNCATE) {
			h->e.size = c->size;
			h->e.flags |= FILE_SIZE_KNOWN;
		}
		emit(h, record_size(&h->e), EVENT_FILE);
	}
	bpf_map_delete_elem(&osec_f_held, &tid);
}

/* sys_watched says whether the operations a syscall may report (mask) are watched anywhere:
 * checked first, before any argument is read. Inside a call whose operation nobody watches no
 * LSM hook holds anything (it checks the same). */
static __always_inline int sys_watched(__u32 mask)
{
	if (ops_any & mask)
		return 1;
	count_filtered(EVENT_FILE);
	return 0;
}

/* sys_done finishes a watched syscall: it sends the record its LSM hook held, or builds one. */
static __always_inline int sys_done(struct file_call *c, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (have_lsm) {
		__u32 *st = bpf_map_lookup_elem(&osec_f_hook, &tid);

		if (st) {
			if (*st == HOOK_HELD)
				release_held(tid, ret, c);
			bpf_map_delete_elem(&osec_f_hook, &tid);
			return 0;
		}
	}
	if (restarting(ret))
		return 0;
	return exit_build(c, ret);
}

#define SYS_EXIT(name)                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                        \
	int osec_##name(struct trace_event_raw_sys_exit *ctx)
/* CALL starts an exit program: the operations it may report (o, and RMDIR for unlinkat)
 * must be watched, then the registers are read. */
#define CALL_MASK(o, mask)                                                \
	long ret = ctx->ret;                                              \
	struct pt_regs *regs;                                             \
	struct file_call c = {.op = (o)};                                 \
	if (!sys_watched(mask))                                           \
		return 0;                                                 \
	regs = sys_regs()
#define CALL(o) CALL_MASK(o, (o) == FILE_OP_OPEN ? FILE_MASK_OPEN_READ | FILE_MASK_OPEN_WRITE : op_mask(o))
#define DONE() return sys_done(&c, ret)

/* An open that succeeded needs only its flags (its path is the new fd's); the dirfd and the
 * string are read only for one that failed. */
#define OPEN_PATH(dirfd, str)                                             \
	do {                                                              \
		if (ret < 0) {                                            \
			c.dfd = (dirfd);                                  \
			c.name = (str);                                   \
		}                                                         \
	} while (0)

/* x86-64 only (the legacy calls) */
SYS_EXIT(open) { CALL(FILE_OP_OPEN); c.flags = ARG(2); OPEN_PATH(AT_FDCWD, ARG(1)); DONE(); }
SYS_EXIT(creat) { CALL(FILE_OP_OPEN); c.flags = O_CREAT | O_WRONLY | O_TRUNC; OPEN_PATH(AT_FDCWD, ARG(1)); DONE(); }
SYS_EXIT(unlink) { CALL(FILE_OP_UNLINK); c.dfd = AT_FDCWD; c.name = ARG(1); DONE(); }
SYS_EXIT(rmdir) { CALL(FILE_OP_RMDIR); c.dfd = AT_FDCWD; c.name = ARG(1); DONE(); }
SYS_EXIT(rename) { CALL(FILE_OP_RENAME); c.dfd = c.dfd2 = AT_FDCWD; c.name = ARG(2); c.name2 = ARG(1); DONE(); }
SYS_EXIT(chmod) { CALL(FILE_OP_CHMOD); c.dfd = AT_FDCWD; c.name = ARG(1); c.mode = ARG(2); DONE(); }
SYS_EXIT(chown) { CALL(FILE_OP_CHOWN); c.dfd = AT_FDCWD; c.name = ARG(1); c.uid = ARG(2); c.gid = ARG(3); DONE(); }
SYS_EXIT(lchown) { CALL(FILE_OP_CHOWN); c.dfd = AT_FDCWD; c.name = ARG(1); c.uid = ARG(2); c.gid = ARG(3); DONE(); }
SYS_EXIT(link) { CALL(FILE_OP_LINK); c.dfd = c.dfd2 = AT_FDCWD; c.name = ARG(2); c.name2 = ARG(1); DONE(); }
SYS_EXIT(symlink) { CALL(FILE_OP_SYMLINK); c.dfd = c.dfd2 = AT_FDCWD; c.name = ARG(2); c.name2 = ARG(1); DONE(); }
SYS_EXIT(mkdir) { CALL(FILE_OP_MKDIR); c.dfd = AT_FDCWD; c.name = ARG(1); c.mode = ARG(2); DONE(); }

/* every architecture */
SYS_EXIT(openat) { CALL(FILE_OP_OPEN); c.flags = ARG(3); OPEN_PATH((int)ARG(1), ARG(2)); DONE(); }
SYS_EXIT(openat2)
{
	__u64 flags = 0;
	CALL(FILE_OP_OPEN);

	bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG(3)); /* open_how.flags */
	c.flags = flags;
	OPEN_PATH((int)ARG(1), ARG(2));
	DONE();
}
SYS_EXIT(unlinkat)
{
	CALL_MASK(FILE_OP_UNLINK, FILE_MASK_UNLINK | FILE_MASK_RMDIR);
	c.dfd = (int)ARG(1);
	c.name = ARG(2);
	c.flags = ARG(3);
	if (c.flags & AT_REMOVEDIR)
		c.op = FILE_OP_RMDIR;
	DONE();
}
SYS_EXIT(renameat) { CALL(FILE_OP_RENAME); c.dfd2 = (int)ARG(1); c.name2 = ARG(2); c.dfd = (int)ARG(3); c.name = ARG(4); DONE(); }
SYS_EXIT(renameat2)
{
	CALL(FILE_OP_RENAME);
	c.dfd2 = (int)ARG(1);
	c.name2 = ARG(2);
	c.dfd = (int)ARG(3);
	c.name = ARG(4);
	c.flags = ARG(5);
	DONE();
}
SYS_EXIT(fchmod) { CALL(FILE_OP_CHMOD); c.fd_based = 1; c.dfd = (int)ARG(1); c.mode = ARG(2); DONE(); }
SYS_EXIT(fchmodat) { CALL(FILE_OP_CHMOD); c.dfd = (int)ARG(1); c.name = ARG(2); c.mode = ARG(3); DONE(); }
SYS_EXIT(fchmodat2)
{
	CALL(FILE_OP_CHMOD);
	c.dfd = (int)ARG(1);
	c.name = ARG(2);
	c.mode = ARG(3);
	c.flags = c.at = ARG(4);
	DONE();
}
SYS_EXIT(fchown) { CALL(FILE_OP_CHOWN); c.fd_based = 1; c.dfd = (int)ARG(1); c.uid = ARG(2); c.gid = ARG(3); DONE(); }
SYS_EXIT(fchownat)
{
	CALL(FILE_OP_CHOWN);
	c.dfd = (int)ARG(1);
	c.name = ARG(2);
	c.uid = ARG(3);
	c.gid = ARG(4);
	c.flags = c.at = ARG(5);
	DONE();
}
SYS_EXIT(truncate) { CALL(FILE_OP_TRUNCATE); c.dfd = AT_FDCWD; c.name = ARG(1); c.size = ARG(2); DONE(); }
SYS_EXIT(ftruncate) { CALL(FILE_OP_TRUNCATE); c.fd_based = 1; c.dfd = (int)ARG(1); c.size = ARG(2); DONE(); }
SYS_EXIT(linkat)
{
	CALL(FILE_OP_LINK);
	c.dfd2 = (int)ARG(1);
	c.name2 = ARG(2);
	c.dfd = (int)ARG(3);
	c.name = ARG(4);
	c.flags = c.at = ARG(5);
	DONE();
}
SYS_EXIT(symlinkat) { CALL(FILE_OP_SYMLINK); c.name2 = ARG(1); c.dfd = (int)ARG(2); c.name = ARG(3); DONE(); }
SYS_EXIT(mkdirat) { CALL(FILE_OP_MKDIR); c.dfd = (int)ARG(1); c.name = ARG(2); c.mode = ARG(3); DONE(); }

/* ---- LSM hooks: the kernel's own objects ---- */

/* Hook arguments as plain values (typed BTF pointers do not survive the pointer arithmetic of
 * the walk). */
static __always_inline __u64 arg(unsigned long long *ctx, int i)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &ctx[i]);
	return v;
}

/* LSM_PASS_DENIAL passes on a denial by the BPF LSM programs that ran before this one on the
 * hook (their verdict follows the hook's nargs arguments): otelsec's own verdict is always 0
 * and it never turns a denial into a permission; sys_exit reports the failed call. The verifier
 * wants a return value it can bound, so the errno is passed as EACCES when it was EACCES, as
 * EPERM otherwise. The loader checks each hook's arity against the kernel's BTF. */
#define LSM_PASS_DENIAL(nargs)                                         \
	do {                                                           \
		int prev_ret = (int)arg(ctx, nargs);                   \
		if (prev_ret)                                          \
			return prev_ret == -EACCES ? -EACCES : -EPERM; \
	} while (0)
#define EPERM 1
#define EACCES 13

/* Task flags (include/linux/sched.h): a kernel thread, an io_uring worker. */
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

/* Where an LSM hook runs. */
#define HOOK_SKIP -1     /* inside a watched syscall, but not its operation's hook, or again */
#define HOOK_ALONE 0     /* outside any watched syscall: the record is sent at once */
#define HOOK_IN_CALL 1   /* inside a watched syscall of its operation: held for the result */

/* hook_context says whether the current task is inside a watched syscall whose operation is
 * op: the syscall's number is in the registers it entered the kernel with. An O_TRUNC open's
 * truncate hook and overlayfs's second file_open (on the file underneath) are not reported. */
static __always_inline int hook_context(__u32 op, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 *ops, nr;
	long sysnr;

	if (!have_syscalls || (BPF_CORE_READ(task, flags) & (PF_KTHREAD | PF_IO_WORKER)))
		return HOOK_ALONE;
	sysnr = SYSCALL_NR((struct pt_regs *)bpf_task_pt_regs(task));
	if (sysnr < 0 || sysnr >= FILE_SYSCALLS_MAX)
		return HOOK_ALONE;
	nr = sysnr;
	ops = bpf_map_lookup_elem(&osec_f_sysops, &nr);
	if (!ops || !*ops)
		return HOOK_ALONE;
	if (!(*ops & (1 << op)) || bpf_map_lookup_elem(&osec_f_hook, &tid))
		return HOOK_SKIP;
	return HOOK_IN_CALL;
}

/* lsm_start decides whether a hook reports (hook_context) and returns the record to fill. */
static __always_inline struct file_buf *lsm_start(__u32 op, __u32 tid)
{
	__u32 cand = op == FILE_OP_OPEN ? FILE_MASK_OPEN_READ | FILE_MASK_OPEN_WRITE : op_mask(op);
	int where = hook_context(op, tid);
	struct file_buf *b;

	if (where == HOOK_SKIP)
		return NULL;
	if (!(ops_any & cand)) {
		if (where == HOOK_ALONE)
			count_filtered(EVENT_FILE); /* inside a call, its exit counts it */
		return NULL;
	}
	b = file_buf();
	if (!b)
		return NULL;
	begin_record(&b->e, op);
	b->e.flags = FILE_FROM_LSM;
	if (where == HOOK_ALONE)
		b->e.flags |= FILE_NO_SYSCALL;
	return b;
}

/* Which path of its record lsm_path builds. */
#define LSM_ONLY 0   /* the only path, which alone decides the record: put_path may drop it early */
#define LSM_FIRST 1  /* the first of two (rename, link) */
#define LSM_SECOND 2 /* the second */

/* lsm_path appends the path of (dentry, mnt) as the record's first or second path. Returns
 * UNMATCHABLE* for a path the filters cannot match, DROPPED for one put_path dropped early. */
static __always_inline __u32 lsm_path(struct file_buf *b, struct file_work *w, __u64 dentry, __u64 mnt, int which)
{
	int second = which == LSM_SECOND, r;

	cur_reset(w, w->c.off);
	w->c.early = which == LSM_ONLY;
	r = put_path(b, w, dentry, mnt);
	if (r == PUT_FILTERED)
		return DROPPED;
	if (r) {
		b->e.flags |= second ? FILE_PATH2_UNRESOLVED : FILE_PATH_UNRESOLVED;
		w->c.off = w->c.start;
		return second ? UNMATCHABLE2 : UNMATCHABLE1;
	}
	if (w->c.trunc)
		b->e.flags |= second ? FILE_PATH2_TRUNCATED : FILE_PATH_TRUNCATED;
	if (second)
		b->e.path2_len = finish_path(b, w);
	else
		b->e.path_len = finish_path(b, w);
	if (w->c.trunc & TRUNC_DEPTH)
		return second ? UNMATCHABLE2 : UNMATCHABLE1;
	return 0;
}

/* lsm_submit filters the record a hook built in the per-CPU buffer, then holds it until the
 * syscall returns, or sends it now when no syscall will. opened: file_open's file, whose inode
 * the record describes. */
__noinline int lsm_submit(__u32 bit, __u32 unm, __u32 tid, __u64 opened)
{
	struct file_buf *b = file_buf();
	__u32 state;
	int in_call;

	if (!b)
		return 0;
	in_call = !(b->e.flags & FILE_NO_SYSCALL);
	if ((unm & DROPPED) || !keep_record(bit, unm)) {
		count_filtered(EVENT_FILE);
		if (in_call) {
			state = HOOK_DROPPED;
			bpf_map_update_elem(&osec_f_hook, &tid, &state, BPF_ANY);
		}
		return 0;
	}
	identify(&b->e);
	if (opened)
		inode_info(&b->e, (struct file *)opened);
	if (in_call) {
		state = HOOK_HELD;
		if (bpf_map_update_elem(&osec_f_held, &tid, b, BPF_ANY) == 0 &&
		    bpf_map_update_elem(&osec_f_hook, &tid, &state, BPF_ANY) == 0)
			return 0;
		bpf_map_delete_elem(&osec_f_held, &tid);
		state = HOOK_SENT; /* no room to hold it: sent now, without its result */
		bpf_map_update_elem(&osec_f_hook, &tid, &state, BPF_ANY);
	}
	emit(b, record_size(&b->e), EVENT_FILE);
	return 0;
}

/* lsm_one reports an operation on one path. */
__noinline int lsm_one(__u32 op, __u64 dentry, __u64 mnt)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct file_buf *b = lsm_start(op, tid);
	struct file_work *w = file_work();
	__u32 unm;

	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, dentry, mnt, LSM_ONLY);
	return lsm_submit(op_mask(op), unm, tid, 0);
}

SEC("lsm/file_open")
int osec_l_open(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 f = arg(ctx, 0);
	struct file_work *w;
	struct file_buf *b;
	__u32 unm;

	struct path fp = {};
	__u32 fmode;

	LSM_PASS_DENIAL(1);
	fmode = BPF_CORE_READ((struct file *)f, f_mode);
	if (fmode & FMODE_EXEC)
		return 0; /* an exec's open of its binary: the process sensor's */
	b = lsm_start(FILE_OP_OPEN, tid);
	w = file_work();
	if (!b || !w)
		return 0;
	/* The open's flags as the kernel keeps them (O_CREAT and O_TRUNC are cleared only after
	 * this hook); a held record gets the caller's from the syscall's exit. */
	b->e.open_flags = BPF_CORE_READ((struct file *)f, f_flags);
	if (fmode & FMODE_CREATED)
		b->e.flags |= FILE_CREATED;
	w->c.off = 0;
	BPF_CORE_READ_INTO(&fp, (struct file *)f, f_path);
	unm = lsm_path(b, w, (__u64)fp.dentry, (__u64)fp.mnt, LSM_ONLY);
	lsm_submit(open_mask(b->e.open_flags, b->e.flags & FILE_CREATED, 0), unm, tid, f);
	return 0;
}

SEC("lsm/path_unlink")
int osec_l_unlink(unsigned long long *ctx)
{
	LSM_PASS_DENIAL(2);
	lsm_one(FILE_OP_UNLINK, arg(ctx, 1), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 0), mnt));
	return 0;
}

SEC("lsm/path_rmdir")
int osec_l_rmdir(unsigned long long *ctx)
{
	LSM_PASS_DENIAL(2);
	lsm_one(FILE_OP_RMDIR, arg(ctx, 1), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 0), mnt));
	return 0;
}

SEC("lsm/path_truncate")
int osec_l_trunc(unsigned long long *ctx)
{
	struct path *p = (struct path *)arg(ctx, 0);

	LSM_PASS_DENIAL(1);
	lsm_one(FILE_OP_TRUNCATE, (__u64)BPF_CORE_READ(p, dentry), (__u64)BPF_CORE_READ(p, mnt));
	return 0;
}

SEC("lsm/file_truncate")
int osec_l_ftrunc(unsigned long long *ctx)
{
	struct file *f = (struct file *)arg(ctx, 0);

	LSM_PASS_DENIAL(1);
	lsm_one(FILE_OP_TRUNCATE, (__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt));
	return 0;
}

SEC("lsm/path_mkdir")
int osec_l_mkdir(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct file_work *w = file_work();
	struct file_buf *b;
	__u32 unm;

	LSM_PASS_DENIAL(3);
	b = lsm_start(FILE_OP_MKDIR, tid);
	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, arg(ctx, 1), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 0), mnt), LSM_ONLY);
	b->e.mode = (__u32)arg(ctx, 2) & 07777; /* the umask is applied */
	b->e.flags |= FILE_MODE_KNOWN;
	lsm_submit(FILE_MASK_MKDIR, unm, tid, 0);
	return 0;
}

SEC("lsm/path_chmod")
int osec_l_chmod(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct path *pa = (struct path *)arg(ctx, 0);
	struct file_work *w = file_work();
	struct file_buf *b;
	__u32 unm;

	LSM_PASS_DENIAL(2);
	b = lsm_start(FILE_OP_CHMOD, tid);
	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, (__u64)BPF_CORE_READ(pa, dentry), (__u64)BPF_CORE_READ(pa, mnt), LSM_ONLY);
	b->e.mode = (__u32)arg(ctx, 1) & 07777;
	b->e.flags |= FILE_MODE_KNOWN;
	lsm_submit(FILE_MASK_CHMOD, unm, tid, 0);
	return 0;
}

SEC("lsm/path_chown")
int osec_l_chown(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct path *pa = (struct path *)arg(ctx, 0);
	struct file_work *w = file_work();
	struct file_buf *b;
	__u32 unm;

	LSM_PASS_DENIAL(3);
	b = lsm_start(FILE_OP_CHOWN, tid);
	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, (__u64)BPF_CORE_READ(pa, dentry), (__u64)BPF_CORE_READ(pa, mnt), LSM_ONLY);
	b->e.uid = (__u32)arg(ctx, 1);
	b->e.gid = (__u32)arg(ctx, 2);
	if (b->e.uid != (__u32)-1)
		b->e.flags |= FILE_UID_KNOWN;
	if (b->e.gid != (__u32)-1)
		b->e.flags |= FILE_GID_KNOWN;
	lsm_submit(FILE_MASK_CHOWN, unm, tid, 0);
	return 0;
}

SEC("lsm/path_symlink")
int osec_l_symlink(unsigned long long *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct file_work *w = file_work();
	struct file_buf *b;
	__u32 unm;
	long n;

	LSM_PASS_DENIAL(3);
	b = lsm_start(FILE_OP_SYMLINK, tid);
	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, arg(ctx, 1), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 0), mnt), LSM_ONLY);
	n = bpf_probe_read_kernel_str(&b->data[w->c.off & FDATA_MASK], PATH_MAX_BYTES, (void *)arg(ctx, 2));
	if (n > 0) {
		b->e.path2_len = n;
		if (n == PATH_MAX_BYTES)
			b->e.flags |= FILE_PATH2_TRUNCATED;
	} else {
		b->e.flags |= FILE_PATH2_UNRESOLVED;
	}
	lsm_submit(FILE_MASK_SYMLINK, unm, tid, 0);
	return 0;
}

/* lsm_two reports an operation on two paths: the new one first, then the original. */
static __always_inline int lsm_two(__u32 op, __u64 new_dentry, __u64 new_mnt, __u64 old_dentry, __u64 old_mnt, __u32 flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct file_buf *b = lsm_start(op, tid);
	struct file_work *w = file_work();
	__u32 unm;

	if (!b || !w)
		return 0;
	w->c.off = 0;
	unm = lsm_path(b, w, new_dentry, new_mnt, LSM_FIRST);
	unm |= lsm_path(b, w, old_dentry, old_mnt, LSM_SECOND);
	if (op == FILE_OP_RENAME)
		b->e.open_flags = flags;
	return lsm_submit(op_mask(op), unm, tid, 0);
}

SEC("lsm/path_rename")
int osec_l_rename(unsigned long long *ctx)
{
	LSM_PASS_DENIAL(5);
	lsm_two(FILE_OP_RENAME, arg(ctx, 3), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 2), mnt),
		arg(ctx, 1), (__u64)BPF_CORE_READ((struct path *)arg(ctx, 0), mnt), (__u32)arg(ctx, 4));
	return 0;
}

SEC("lsm/path_link")
int osec_l_link(unsigned long long *ctx)
{
	__u64 mnt = (__u64)BPF_CORE_READ((struct path *)arg(ctx, 1), mnt);

	LSM_PASS_DENIAL(3);
	/* a hard link stays on its mount: the new directory's */
	lsm_two(FILE_OP_LINK, arg(ctx, 2), mnt, arg(ctx, 0), mnt, 0);
	return 0;
}
