/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading a task: credentials, namespaces, cgroup, paths. Every read is CO-RE, so the same code
 * serves typed (tp_btf) and untyped (raw_tp) program types and survives struct changes. */
#pragma once

#include "common.h"

/* kernfs_node.parent became __parent in 6.15. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* kernel_cap_t is a u64 since 6.3 and a u32[2] before: the same 8 little-endian bytes. */
static __always_inline __u64 read_caps(const kernel_cap_t *caps)
{
	__u64 v = 0;

	bpf_core_read(&v, sizeof(v), caps);
	return v;
}

static __always_inline void read_creds(struct task_struct *task, struct task_creds *c)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

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

static __always_inline void read_audit(struct task_struct *task, __u32 *loginuid, __u32 *sessionid)
{
	*loginuid = (__u32)-1;
	*sessionid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid)) {
		*loginuid = BPF_CORE_READ(task, loginuid.val);
		*sessionid = BPF_CORE_READ(task, sessionid);
	}
}

/* read_pid_ns returns the pid as seen in the task's own pid namespace and stores that
 * namespace's inode number. */
static __always_inline __u32 read_pid_ns(struct task_struct *task, __u32 *inum)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};

	bpf_core_read(&up, sizeof(up), &pid->numbers[level & 31]);
	*inum = BPF_CORE_READ(up.ns, ns.inum);
	return up.nr;
}

static __always_inline void read_namespaces(struct task_struct *task, struct task_namespaces *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ns->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns))
		ns->time = BPF_CORE_READ(nsp, time_ns, ns.inum);
	ns->user = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
}

static __always_inline struct kernfs_node *task_cgroup_kn(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task_cgroup_kn(task), id);
}

/* Variable-length strings are written into a per-CPU buffer at a running offset. The offset is
 * masked with DATA_MASK before every write, and the buffer has DATA_SLACK bytes beyond the mask
 * so that the largest single read always fits: that is what the verifier needs to see. The
 * section limits are enforced on top of it. */
#define DATA_MASK (16384 - 1)
#define DATA_SLACK ARGS_MAX_BYTES
#define DATA_SIZE (DATA_MASK + 1 + DATA_SLACK)

/* write_path writes the components of (dentry, vfsmnt) from the leaf up to the task's root
 * (or the global root), each NUL-terminated, into data at *off. Userspace reverses them. Walking
 * forward keeps every write at a growing offset, which the verifier accepts without the
 * backwards-copy gymnastics of a kernel-style d_path. Returns the flags to set. */
struct walk_root {
	struct dentry *dentry;
	struct vfsmount *mnt;
};

static __noinline int write_path(char *data, __u32 *off, struct dentry *dentry,
				 struct vfsmount *vfsmnt, const struct walk_root *root)
{
	struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
	__u32 start = *off;
	int i;

	if (!data || !dentry || !vfsmnt || !root)
		return -1;

	for (i = 0; i < PATH_MAX_DEPTH; i++) {
		struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
		struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
		const unsigned char *name;
		long n;

		if (dentry == root->dentry && vfsmnt == root->mnt)
			return 0;
		if (dentry == mnt_root || dentry == parent) {
			struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

			if (dentry != mnt_root || mnt == mnt_parent)
				return 0; /* global root */
			dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
			mnt = mnt_parent;
			vfsmnt = __builtin_preserve_access_index(&mnt->mnt);
			continue;
		}
		if (*off - start > PATH_MAX_BYTES - NAME_READ_BYTES)
			return 1;
		name = BPF_CORE_READ(dentry, d_name.name);
		n = bpf_probe_read_kernel_str(&data[*off & DATA_MASK], NAME_READ_BYTES, name);
		if (n <= 0)
			return 1;
		*off += n;
		dentry = parent;
	}
	return 1;
}

/* write_cgroup writes the cgroup's path components from the leaf up (the root has no name). */
static __noinline int write_cgroup(char *data, __u32 *off, struct kernfs_node *kn)
{
	__u32 start = *off;
	int i;

	if (!data)
		return 0;
	for (i = 0; i < CGROUP_MAX_DEPTH; i++) {
		struct kernfs_node *parent;
		long n;

		if (!kn)
			return 0;
		parent = kn_parent(kn);
		if (!parent)
			return 0;
		if (*off - start > CGROUP_MAX_BYTES - NAME_READ_BYTES)
			return 1;
		n = bpf_probe_read_kernel_str(&data[*off & DATA_MASK], NAME_READ_BYTES,
					      BPF_CORE_READ(kn, name));
		if (n <= 0)
			return 1;
		*off += n;
		kn = parent;
	}
	return 1;
}
