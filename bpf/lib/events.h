/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Record layouts shared by the kernel and Go (bpf2go generates the Go types from these). */
#pragma once

/* Record kinds. One per family of record layout; a family's record says which operation. */
enum event_kind {
	EVENT_EXEC = 1,
	EVENT_FORK = 2,
	EVENT_EXIT = 3,
	EVENT_FILE = 4,      /* file.<operation> (file.bpf.c) */
	EVENT_NETWORK = 5,   /* network.* (network.bpf.c) */
	EVENT_PRIVILEGE = 6, /* process.privilege_change (privilege.bpf.c) */
	EVENT_SECURITY = 7,  /* namespace change, ptrace, module and bpf load, mount (privilege.bpf.c) */
	EVENT_POLICY = 8,    /* policy.decision (policy.bpf.c) */
	EVENT_KIND_MAX = 16,
};

/* event_header.flags */
enum event_hdr_flags {
	/* The process is muted by a policy's suppress rule (osec_mute): set on its exec and exit
	 * records, which still reach the process cache but become no log record. */
	EVENT_HDR_SUPPRESSED = 1 << 0,
};

/* Every record starts with this header. ktime is CLOCK_BOOTTIME in ns. */
struct event_header {
	__u8 kind;
	__u8 pad;
	__u16 flags;
	__u32 cpu;
	__u64 ktime;
	__u32 tgid;
	__u32 tid;
};

/* Per-CPU counters by kind: records sent, records the ring buffer refused, events the
 * in-kernel filters dropped on purpose, and events of muted processes (policy suppress rules):
 * dropped in the kernel for the file, network, privilege and security families, sent flagged
 * EVENT_HDR_SUPPRESSED for exec and exit. */
struct sensor_stats {
	__u64 sent[EVENT_KIND_MAX];
	__u64 lost[EVENT_KIND_MAX];
	__u64 filtered[EVENT_KIND_MAX];
	__u64 suppressed[EVENT_KIND_MAX];
};

/* The decisions of the policy's exec tracepoint program (policy.bpf.c) travel in the exec
 * record the process sensor writes right after, at the same tracepoint on the same CPU (the
 * probes of one tracepoint run one after the other with preemption disabled): a decision then
 * costs no ring-buffer record of its own. osec_exec_dec (lib/common.h) is the per-CPU
 * hand-over, checked by tgid and self_exec_id; decisions the process sensor finds there for
 * another exec (its run for that exec was skipped) are counted lost. */
#define EXEC_DECISIONS_MAX 8

struct exec_decision {
	__u32 rule_id; /* policy.Rule.ID */
	__u8 action;   /* enum pol_action */
	__u8 outcome;  /* enum pol_outcome */
	__u8 rflags;   /* enum pol_rule_flags */
	__u8 pad;
};

struct exec_decisions {
	__u64 generation; /* policy.Set.Generation */
	__u64 exec_id;    /* the task's self_exec_id after the exec they are for */
	__u32 tgid;
	__u32 n;          /* entries of d */
	struct exec_decision d[EXEC_DECISIONS_MAX];
};

/* osec_mute value: a process a suppress rule muted at its exec. exec_id is the task's
 * self_exec_id after that exec: an entry whose exec_id differs is a previous image's, stale. */
struct mute_val {
	__u64 exec_id;
	__u64 generation; /* policy.Set.Generation of the rule */
	__u32 rule_id;    /* policy.Rule.ID */
	__u32 pad;
};

/* Bounds of the variable part of an exec record. */
#define PATH_MAX_BYTES 4096
#define PATH_MAX_DEPTH 64
#define CGROUP_MAX_BYTES 1024
#define CGROUP_MAX_DEPTH 32
#define ARGS_MAX_BYTES 8192
#define FILENAME_MAX_BYTES 512
#define NAME_READ_BYTES 256 /* NAME_MAX + 1 */

/* exec_event.flags */
enum exec_flags {
	EXEC_PATH_TRUNCATED = 1 << 0,
	EXEC_ARGS_TRUNCATED = 1 << 1,
	EXEC_CWD_TRUNCATED = 1 << 2,
	EXEC_CGROUP_TRUNCATED = 1 << 3,
	EXEC_FILENAME_TRUNCATED = 1 << 4,
	EXEC_PATH_UNRESOLVED = 1 << 5, /* no exe_file (should not happen after exec) */
	EXEC_CWD_UNRESOLVED = 1 << 6,
	EXEC_PREV_CREDS = 1 << 7, /* prev_* hold the credentials from before the exec */
	EXEC_PATH_DELETED = 1 << 8, /* the executable was unlinked (memfd, deleted file) */
};

struct task_creds {
	__u32 uid, gid, euid, egid, suid, sgid, fsuid, fsgid;
	__u64 cap_effective, cap_permitted, cap_inheritable;
};

struct task_namespaces {
	__u32 mnt, pid, net, uts, ipc, user, cgroup, time;
};

/* Exec: the whole description of the new program image. The variable part (data) holds, in
 * order, path components of the executable (leaf first, each NUL-terminated), argv as the
 * process sees it (NUL-separated), the filename passed to execve, the cwd's components (leaf
 * first), the cgroup path's components (leaf first) and the policy decisions for this exec, if
 * any (struct exec_decisions: generation, then n entries); *_len give each section's size. */
struct exec_event {
	struct event_header hdr;
	__u32 ppid;
	__u32 vpid;            /* pid in the process's own pid namespace */
	__u64 start_boottime;  /* task creation (fork) time, CLOCK_BOOTTIME ns */
	__u64 cgroup_id;
	struct task_creds creds;
	struct task_creds prev;     /* valid when EXEC_PREV_CREDS */
	__u32 loginuid;
	__u32 sessionid;
	struct task_namespaces ns;
	__u32 exe_mode;        /* inode mode of the executable (S_ISUID/S_ISGID) */
	__u32 exe_uid;
	__u32 exe_gid;
	__u32 flags;           /* enum exec_flags */
	__u16 path_len;
	__u16 args_len;
	__u16 filename_len;
	__u16 cwd_len;
	__u16 cgroup_len;
	__u16 decisions_len;   /* policy decisions: the generation (8 bytes), then exec_decision entries */
	__u32 args_total;      /* argv bytes before truncation */
	char comm[16];
};

struct fork_event {
	struct event_header hdr;  /* tgid = the child's */
	__u32 ppid;
	__u32 pad;
	__u64 start_boottime;     /* the child's */
};

struct exit_event {
	struct event_header hdr;
	__u32 ppid;
	__s32 exit_code;          /* wait status: code << 8 | signal (| 0x80 core) */
	__u64 start_boottime;     /* of the thread group leader: names the process instance */
	__u64 cgroup_id;
	char comm[16];
};
