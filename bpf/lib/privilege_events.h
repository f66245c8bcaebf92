/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Record layouts of the privilege sensor (privilege.bpf.c); bpf2go generates the Go types.
 *
 * EVENT_PRIVILEGE records are privilege_event (process.privilege_change). EVENT_SECURITY
 * records start like every record with the event_header, then the op (enum priv_op) that says
 * which of the layouts below follows: namespace_event, ptrace_event, module_event,
 * bpf_prog_event or mount_event. */
#pragma once

#include "events.h"

/* What a record reports: the syscall (or the kernel path) that did it. */
enum priv_op {
	PRIV_OP_SETUID = 1,
	PRIV_OP_SETGID = 2,
	PRIV_OP_SETREUID = 3,
	PRIV_OP_SETREGID = 4,
	PRIV_OP_SETRESUID = 5,
	PRIV_OP_SETRESGID = 6,
	PRIV_OP_SETFSUID = 7,
	PRIV_OP_SETFSGID = 8,
	PRIV_OP_CAPSET = 9,
	PRIV_OP_CLONE = 10,       /* a new task in other namespaces than its parent's */
	PRIV_OP_UNSHARE = 11,
	PRIV_OP_SETNS = 12,
	PRIV_OP_PTRACE = 13,
	PRIV_OP_INIT_MODULE = 14, /* a module image from memory */
	PRIV_OP_FINIT_MODULE = 15, /* a module from a file */
	PRIV_OP_BPF_PROG_LOAD = 16,
	PRIV_OP_MOUNT = 17,
	PRIV_OP_MOVE_MOUNT = 18,
	PRIV_OP_UMOUNT = 19,
	PRIV_OP_MAX = 20,
};

/* privilege_event.flags */
enum privilege_flags {
	PRIVF_FROM_LSM = 1 << 0, /* old and new were read at the LSM hook, not at syscall exit */
};

/* Credentials before and after a change; emitted only when they differ. */
struct privilege_event {
	struct event_header hdr;
	__u32 op;    /* enum priv_op */
	__u32 flags; /* enum privilege_flags */
	struct task_creds old;
	struct task_creds new;
	char comm[16];
};

/* Namespace inode numbers of a task, in this order (namespace_event.changed has one bit per
 * field, bit 0 = mnt). pid is the task's own pid namespace; pid_children and time_children are
 * where its next children go (unshare(CLONE_NEWPID) changes only those). */
struct ns_set {
	__u32 mnt, pid, net, uts, ipc, user, cgroup, time, pid_children, time_children;
};

#define NS_SET_FIELDS 10

struct namespace_event {
	struct event_header hdr; /* clone: the new task */
	__u32 op;
	__u32 flags;
	__u64 arg;    /* unshare: the flags; setns: nstype; clone: 0 (not known at fork) */
	__s32 fd;     /* setns: the namespace or pidfd file descriptor; -1 otherwise */
	__u32 changed; /* bit i: field i of ns_set differs between old and new */
	struct ns_set old; /* clone: the parent's */
	struct ns_set new;
	char comm[16];
};

/* ptrace_event.flags */
enum ptrace_event_flags {
	PTRF_TRACEE_FOUND = 1 << 0, /* tracee_* describe the traced task */
};

/* A successful PTRACE_ATTACH, PTRACE_SEIZE or PTRACE_TRACEME. */
struct ptrace_event {
	struct event_header hdr; /* the caller */
	__u32 op;
	__u32 flags;
	__s64 request;
	__u32 pid_arg;     /* the pid argument, in the caller's pid namespace */
	__u32 tracee_tgid;
	__u32 tracee_tid;
	__u32 tracer_tgid; /* PTRACE_TRACEME: the parent; otherwise the caller */
	__u32 tracer_tid;
	__u32 pad;
	__u64 tracee_start; /* start_boottime of the tracee's thread group leader */
	char comm[16];
	char tracee_comm[16];
};

/* module_event.flags */
enum module_event_flags {
	MODF_NAME_KNOWN = 1 << 0,      /* name came from the module_load tracepoint */
	MODF_PATH_TRUNCATED = 1 << 1,
	MODF_PATH_UNRESOLVED = 1 << 2, /* finit_module: the fd could not be resolved */
	MODF_ARGS_TRUNCATED = 1 << 3,
};

#define MODULE_ARGS_MAX_BYTES 512

/* A module loaded. data: for finit_module the file's path components (leaf first), then the
 * module parameters as a NUL-terminated string. */
struct module_event {
	struct event_header hdr;
	__u32 op;
	__u32 flags;
	__u64 size;   /* init_module: bytes of the image; finit_module: the file's size */
	__u64 taints; /* the module's taint bits (TAINT_*) */
	__u32 load_flags; /* finit_module flags (MODULE_INIT_*) */
	__u16 path_len;
	__u16 args_len;
	char name[56];
	char comm[16];
};

/* A BPF program loaded by another process than the collector, read from the kernel's program
 * object once the load succeeded. */
struct bpf_prog_event {
	struct event_header hdr;
	__u32 op;
	__u32 flags;
	__u32 prog_type;   /* enum bpf_prog_type */
	__u32 attach_type; /* enum bpf_attach_type (expected_attach_type) */
	__u32 prog_id;
	__u32 insn_cnt;
	__u8 tag[8];
	char name[16];
	char attach_func[64]; /* the kernel function or hook a tracing/LSM program targets */
	char comm[16];
};

/* mount_event.flags */
enum mount_event_flags {
	MNTF_TARGET_RESOLVED = 1 << 0, /* target is the kernel's mount point (leaf first), not the
					* caller's string */
	MNTF_TARGET_TRUNCATED = 1 << 1,
	MNTF_FROM_MOUNT = 1 << 2,      /* source, fstype and mnt/sb flags come from the new mount */
	MNTF_SOURCE_TRUNCATED = 1 << 3,
	MNTF_OPTIONS_TRUNCATED = 1 << 4,
};

#define MOUNT_STR_MAX_BYTES 1024
#define MOUNT_FSTYPE_MAX_BYTES 64
#define MOUNT_OPTIONS_MAX_BYTES 512

/* A successful mount, move_mount or umount. data: source, fstype (NUL-terminated strings),
 * target (leaf-first components when MNTF_TARGET_RESOLVED, else the caller's string), options
 * (mount's data argument as a string). */
struct mount_event {
	struct event_header hdr;
	__u32 op;
	__u32 flags;
	__u64 mount_flags; /* mount: MS_*; move_mount: MOVE_MOUNT_*; umount: MNT_FORCE, ... */
	__u32 mnt_flags;   /* MNTF_FROM_MOUNT: the new mount's MNT_* flags */
	__u32 sb_flags;    /* MNTF_FROM_MOUNT: its superblock's SB_* flags */
	__u16 source_len;
	__u16 fstype_len;
	__u16 target_len;
	__u16 options_len;
	char comm[16];
};
