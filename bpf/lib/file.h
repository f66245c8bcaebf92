/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Path building and in-kernel filtering for the file sensor (file.bpf.c).
 *
 * Paths are written root first ("/etc/passwd") into the record's data area, so that the first
 * FILE_KEY_BYTES bytes of a path are directly a key of the prefix tries. Two ways in:
 *
 *   put_path     the kernel's own objects (struct path, the fd table's struct file): a bounded
 *                dentry walk up to the task's root, crossing mounts; the names are collected
 *                leaf first, then written root first.
 *   put_lexical  a dirfd's or the cwd's walk, joined with the caller's string: ".", ".." and
 *                repeated slashes are resolved lexically; symbolic links in the string are not
 *                followed (the record says FILE_PATH_LEXICAL).
 */
#pragma once

#include "common.h"
#include "file_events.h"

/* Open flags and AT_* flags (the same values on x86-64 and arm64: asm-generic). */
#define O_ACCMODE 00000003
#define O_RDONLY 00000000
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_PATH 010000000
#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define AT_EMPTY_PATH 0x1000
#define FMODE_EXEC 0x20
#define FMODE_CREATED 0x100000

/* The record's data area: a path written at a masked offset may run DATA_SLACK past the mask. */
#define FDATA_MASK (16384 - 1)
#define FDATA_SLACK 4352
#define FDATA_SIZE (FDATA_MASK + 1 + FDATA_SLACK)
/* A record carries at most two paths of PATH_MAX_BYTES each. */
#define FHELD_BYTES (2 * PATH_MAX_BYTES)
/* Where the executable's path is built for the binary filter: past any record's data. */
#define FEXE_OFF FHELD_BYTES

#define USTR_BYTES 4096      /* the caller's string, NUL included (PATH_MAX) */
#define LEX_MAX_DEPTH 256    /* components of a lexically joined path */

struct file_buf {
	struct file_event e;
	char data[FDATA_SIZE];
};

/* A record an LSM hook built, held until its syscall returns (the first FHELD_BYTES of data). */
struct file_held {
	struct file_event e;
	char data[FHELD_BYTES];
};

struct name_ref {
	__u64 name;
	__u32 len;
	__u32 pad;
};

/* The cursor of the path being built. It lives in the per-CPU work map, not on the stack:
 * values loaded from a map are not tracked precisely by the verifier, so the loops over
 * components converge instead of exploding into one state per offset. */
struct pcur {
	__u32 start; /* where the path starts in data */
	__u32 off;   /* where it ends */
	__u32 depth; /* entries on comps */
	__u32 trunc;
	__u32 ulen;   /* lexical: length of ustr */
	__u32 cstart; /* lexical: start of the current component */
	__u32 n;      /* names collected by the walk */
	__u32 early;  /* put_path may drop the path by its first component (see put_path) */
};

struct file_work {
	struct pcur c;
	struct name_ref names[PATH_MAX_DEPTH]; /* a walk's names, leaf first */
	__u16 comps[LEX_MAX_DEPTH];            /* offsets of the components written, for ".." */
	struct file_key key;
	struct file_key key2;                  /* the wildcard form of key */
	__u8 key2_slack[FILE_KEY_BYTES];
	char ustr[USTR_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_buf);
} osec_f_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_work);
} osec_f_work SEC(".maps");

/* Filters, filled by the loader; their sizes are set from the configuration. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_key);
	__type(value, struct file_rule);
} osec_f_incl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_key);
	__type(value, struct file_rule);
} osec_f_excl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_key);
	__type(value, struct file_wild);
} osec_f_wild SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_key);
	__type(value, __u32);
} osec_f_bin_in SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct file_key);
	__type(value, __u32);
} osec_f_bin_ex SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_first);
} osec_f_first SEC(".maps");

/* The binary filter's verdict per process, valid while the process runs the same executable
 * (exe_file) and is the same process instance (its leader's start time): an exec changes
 * exe_file, so the verdict is computed once per exec, at the first event that needs it. */
struct bin_verdict {
	__u64 exe;
	__u64 start;
	__u32 keep;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct bin_verdict);
} osec_f_bincache SEC(".maps");

/* Load-time settings. */
const volatile __u32 ops_any = FILE_MASK_ALL; /* the union of the include masks */
const volatile __u32 have_excl = 0;
const volatile __u32 have_wild = 0;
const volatile __u32 have_bin_in = 0;
const volatile __u32 have_bin_ex = 0;
const volatile __u32 have_first = 0; /* osec_f_first is filled (no include prefix is / or starts with *) */

/* Truncation causes, in pcur.trunc. */
#define TRUNC_BYTES 1 /* longer than PATH_MAX_BYTES: the first bytes are kept */
#define TRUNC_DEPTH 2 /* deeper than the walk's bound: the leaf-most components are kept */

/* The functions below that are not static are global BPF functions: the verifier checks each
 * once, on its own, instead of again at every call site (which made the programs too
 * complex). Their pointer arguments may be NULL for the verifier, hence the checks; and before
 * Linux 6.2 such an argument cannot be a map helper's key or value, so the functions that
 * need one look the per-CPU buffers up themselves. */

static __always_inline struct file_buf *file_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&osec_f_buf, &zero);
}

static __always_inline struct file_work *file_work(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&osec_f_work, &zero);
}

/* The bpf_loop context of the lexical join. */
struct lexctx {
	struct file_buf *b;
	struct file_work *w;
};

static __always_inline void cur_reset(struct file_work *w, __u32 start)
{
	w->c.start = start;
	w->c.off = start;
	w->c.depth = 0;
	w->c.trunc = 0;
	w->c.n = 0;
	w->c.early = 0;
}

static __always_inline void count_file_lost(void)
{
	__u32 zero = 0;
	struct sensor_stats *st = bpf_map_lookup_elem(&osec_stats, &zero);

	if (st)
		st->lost[EVENT_FILE]++;
}

static __always_inline struct file *fd_file(int fd)
{
	/* The task's fields are read by direct (BTF) loads, no helper call each; the fd array's
	 * slot needs one (no variable offsets on BTF pointers). */
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file **fds = fdt->fd;
	struct file *f = NULL;

	if (fd < 0 || (__u32)fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* A mount's parent, mountpoint and root dentry. mnt_parent, mnt_mountpoint and mnt (whose
 * first field is mnt_root) follow each other in struct mount: one read where they do. */
struct mnt_info {
	struct mount *parent;
	struct dentry *mountpoint;
	struct dentry *root;
};

static __always_inline void read_mount(struct mount *mnt, struct mnt_info *mi)
{
	__u32 po = bpf_core_field_offset(struct mount, mnt_parent);

	if (bpf_core_field_offset(struct mount, mnt_mountpoint) == po + 8 &&
	    bpf_core_field_offset(struct mount, mnt) + bpf_core_field_offset(struct vfsmount, mnt_root) == po + 16) {
		bpf_probe_read_kernel(mi, sizeof(*mi), (void *)mnt + po);
		return;
	}
	mi->parent = BPF_CORE_READ(mnt, mnt_parent);
	mi->mountpoint = BPF_CORE_READ(mnt, mnt_mountpoint);
	mi->root = BPF_CORE_READ(mnt, mnt.mnt_root);
}

/* A dentry's parent and name. d_parent and d_name follow each other in struct dentry: one read
 * where they do. */
struct dentry_info {
	struct dentry *parent;
	__u32 hash;
	__u32 len;
	__u64 name;
};

static __always_inline void read_dentry(struct dentry *d, struct dentry_info *di)
{
	__u32 po = bpf_core_field_offset(struct dentry, d_parent);

	if (bpf_core_field_offset(struct dentry, d_name) == po + 8 &&
	    bpf_core_field_offset(struct dentry, d_name.len) == po + 12 &&
	    bpf_core_field_offset(struct dentry, d_name.name) == po + 16) {
		bpf_probe_read_kernel(di, sizeof(*di), (void *)d + po);
		return;
	}
	di->parent = BPF_CORE_READ(d, d_parent);
	di->len = BPF_CORE_READ(d, d_name.len);
	di->name = (__u64)BPF_CORE_READ(d, d_name.name);
}

/* first_may_match applies the first-component filter of path_keep (the same hash of the first
 * 8 bytes, see first_component_hash) to a walk's root-most name, before the path is written. */
static __always_inline int first_may_match(struct name_ref *r)
{
	__u32 zero = 0, len = r->len, h;
	struct file_first *ff;
	__u64 v = 0;

	if (len == 0)
		return 1;
	if (len > 8)
		len = 8;
	barrier_var(len);
	if (bpf_probe_read_kernel(&v, len & 15, (void *)r->name))
		return 1;
	h = (__u32)((v * 0x9E3779B97F4A7C15ULL) >> 48);
	ff = bpf_map_lookup_elem(&osec_f_first, &zero);
	return !ff || (ff->bits[(h / 64) & (FILE_FIRST_BITS / 64 - 1)] & (1ULL << (h % 64)));
}

/* Results of put_path. */
#define PUT_OK 0
#define PUT_NONE -1    /* nothing to walk */
#define PUT_FILTERED 1 /* w->c.early: no include prefix starts with the path's first component */

/* put_path appends the path of (dentry, vfsmnt), root first ("/a/b"), at w->c.off in
 * b->data, without a NUL; the task's root is the empty string. The names are collected leaf
 * first by a bounded walk up to the task's root (or the global root), crossing mounts, then
 * written root first. With w->c.early set, by a caller whose record is decided by this path
 * alone, a path whose first component starts no include prefix is dropped after the walk,
 * before any name is copied (the test path_keep would make, done early: most opens on a node
 * are dropped here). */
__noinline int put_path(struct file_buf *b, struct file_work *w, __u64 dentry_v, __u64 vfsmnt_v)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 mnt_off = bpf_core_field_offset(struct mount, mnt);
	struct dentry *dentry = (struct dentry *)dentry_v;
	struct mount *mnt = (struct mount *)(vfsmnt_v - mnt_off);
	struct fs_struct *fs;
	struct path root;
	struct mnt_info mi = {};
	struct pcur *c;
	__u32 j;
	int i, reached = 0;

	if (!b || !w || !dentry || !vfsmnt_v)
		return PUT_NONE;
	fs = task->fs; /* direct (BTF) loads */
	root.dentry = (struct dentry *)(__u64)fs->root.dentry;
	root.mnt = (struct vfsmount *)(__u64)fs->root.mnt;
	read_mount(mnt, &mi);
	c = &w->c;
	c->n = 0;
	for (i = 0; i < PATH_MAX_DEPTH + 16; i++) {
		struct dentry_info di;
		__u32 n;

		if (dentry == root.dentry && (__u64)mnt + mnt_off == (__u64)root.mnt) {
			reached = 1;
			break;
		}
		if (dentry == mi.root) {
			if (mnt == mi.parent) {
				reached = 1; /* the global root (outside the task's root) */
				break;
			}
			dentry = mi.mountpoint;
			mnt = mi.parent;
			read_mount(mnt, &mi);
			continue;
		}
		read_dentry(dentry, &di);
		if (dentry == di.parent) {
			reached = 1; /* a disconnected root */
			break;
		}
		n = c->n;
		if (n >= PATH_MAX_DEPTH)
			break;
		w->names[n & (PATH_MAX_DEPTH - 1)].name = di.name;
		w->names[n & (PATH_MAX_DEPTH - 1)].len = di.len;
		c->n = n + 1;
		dentry = di.parent;
	}
	if (!reached)
		c->trunc |= TRUNC_DEPTH;
	else if (have_first && c->early && c->n > 0 &&
		 !first_may_match(&w->names[(c->n - 1) & (PATH_MAX_DEPTH - 1)]))
		return PUT_FILTERED;

	for (j = 0; j < PATH_MAX_DEPTH; j++) {
		__u32 k, len, n = c->n;

		if (j >= n)
			break;
		k = (n - 1 - j) & (PATH_MAX_DEPTH - 1);
		len = w->names[k].len;
		if (len > NAME_READ_BYTES - 1)
			len = NAME_READ_BYTES - 1;
		if (c->off - c->start + len + 2 > PATH_MAX_BYTES) {
			c->trunc |= TRUNC_BYTES;
			break;
		}
		if (c->depth < LEX_MAX_DEPTH)
			w->comps[c->depth & (LEX_MAX_DEPTH - 1)] = c->off - c->start;
		c->depth++;
		b->data[c->off & FDATA_MASK] = '/';
		c->off++;
		barrier_var(len);
		bpf_probe_read_kernel(&b->data[c->off & FDATA_MASK], len & (NAME_READ_BYTES - 1),
				      (void *)w->names[k].name);
		c->off += len;
	}
	return 0;
}

/* finish_path terminates the path: the root is "/". Returns its size, NUL included. */
static __always_inline __u32 finish_path(struct file_buf *b, struct file_work *w)
{
	struct pcur *c = &w->c;

	if (c->off == c->start) {
		b->data[c->off & FDATA_MASK] = '/';
		c->off++;
	}
	b->data[c->off & FDATA_MASK] = 0;
	c->off++;
	return c->off - c->start;
}

/* One character of the caller's string: at a '/' or the end, the component before it is
 * dropped ("" and "."), removes the last one (".."), or is appended. */
static int lex_step(__u32 i, struct lexctx *x)
{
	struct file_work *w = x->w;
	struct file_buf *b = x->b;
	struct pcur *c;
	__u32 s, clen;
	char ch = 0;

	if (!w || !b)
		return 1;
	c = &w->c;
	if (i < c->ulen)
		ch = w->ustr[i & (USTR_BYTES - 1)];
	if (ch != '/' && ch != 0)
		return 0;
	s = c->cstart;
	clen = i - s;
	c->cstart = i + 1;
	if (clen == 0 || (clen == 1 && w->ustr[s & (USTR_BYTES - 1)] == '.'))
		return ch == 0;
	if (clen == 2 && w->ustr[s & (USTR_BYTES - 1)] == '.' &&
	    w->ustr[(s + 1) & (USTR_BYTES - 1)] == '.') {
		if (c->depth > 0) {
			c->depth--;
			c->off = c->start + w->comps[c->depth & (LEX_MAX_DEPTH - 1)];
		}
		return ch == 0;
	}
	if (c->off - c->start + clen + 2 > PATH_MAX_BYTES || c->depth >= LEX_MAX_DEPTH) {
		c->trunc |= TRUNC_BYTES;
		return 1;
	}
	w->comps[c->depth & (LEX_MAX_DEPTH - 1)] = c->off - c->start;
	c->depth++;
	b->data[c->off & FDATA_MASK] = '/';
	c->off++;
	bpf_probe_read_kernel(&b->data[c->off & FDATA_MASK], clen & (USTR_BYTES - 1),
			      &w->ustr[s & (USTR_BYTES - 1)]);
	c->off += clen;
	return ch == 0;
}

/* Results of put_lexical. */
#define LEX_OK 0
#define LEX_UNRESOLVED 1
#define LEX_FD 2 /* an empty string with AT_EMPTY_PATH: the fd's own path, from the kernel */

/* put_lexical appends the path the caller named with (dfd, ustr): the base (the root for an
 * absolute string, else the dirfd's or the cwd's path from the kernel), then the string's
 * components, resolved lexically: symbolic links in the string are not followed. */
__noinline int put_lexical(struct file_buf *b, struct file_work *w, int dfd, __u64 ustr, __u32 atflags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct lexctx x = {.b = b, .w = w};
	long n;

	if (!b || !w)
		return LEX_UNRESOLVED;
	n = bpf_probe_read_user_str(w->ustr, USTR_BYTES, (void *)ustr);
	if (n <= 0)
		return LEX_UNRESOLVED;
	if (n == 1 && (atflags & AT_EMPTY_PATH)) {
		struct file *f = fd_file(dfd);
		struct path fp = {};

		if (!f)
			return LEX_UNRESOLVED;
		BPF_CORE_READ_INTO(&fp, f, f_path);
		if (put_path(b, w, (__u64)fp.dentry, (__u64)fp.mnt))
			return LEX_UNRESOLVED;
		return LEX_FD;
	}
	if (n == USTR_BYTES)
		w->c.trunc |= TRUNC_BYTES;
	if (w->ustr[0] != '/') {
		struct path base = {};

		if (dfd == AT_FDCWD) {
			BPF_CORE_READ_INTO(&base, task, fs, pwd);
		} else {
			struct file *f = fd_file(dfd);

			if (!f)
				return LEX_UNRESOLVED;
			BPF_CORE_READ_INTO(&base, f, f_path);
		}
		if (put_path(b, w, (__u64)base.dentry, (__u64)base.mnt))
			return LEX_UNRESOLVED;
	}
	w->c.ulen = n - 1;
	w->c.cstart = 0;
	bpf_loop(n, lex_step, &x, 0);
	return LEX_OK;
}

/* make_key loads the trie key for the len bytes (no NUL) of the path at data[start]. */
static __always_inline void make_key(struct file_key *k, char *data, __u32 start, __u32 len)
{
	if (len > FILE_KEY_BYTES - 1) {
		bpf_probe_read_kernel(k->data, FILE_KEY_BYTES, &data[start & FDATA_MASK]);
		k->prefixlen = FILE_KEY_BYTES * 8;
		return;
	}
	barrier_var(len); /* keep the mask: the compiler knows len < 256 here, the verifier not */
	len &= FILE_KEY_BYTES - 1;
	bpf_probe_read_kernel(k->data, len, &data[start & FDATA_MASK]);
	k->data[len] = '/';
	k->prefixlen = (len + 1) * 8;
}

/* wild_key builds w->key2 from w->key: the component after the base_len bytes of a wildcard
 * base replaced by "*". Returns 0 when the key has no such component. */
static __always_inline int wild_key(struct file_work *w, __u32 base_len)
{
	__u32 plen = w->key.prefixlen / 8, e = 0, i;

	if (base_len == 0 || base_len >= plen || base_len >= FILE_KEY_BYTES)
		return 0;
	for (i = 0; i < FILE_KEY_BYTES; i++) {
		__u32 idx = base_len + i;

		if (idx >= plen)
			return 0; /* the base itself, or a name cut by the key's end */
		if (w->key.data[idx & (FILE_KEY_BYTES - 1)] == '/') {
			e = idx;
			break;
		}
	}
	if (e <= base_len || e >= plen)
		return 0;
	barrier_var(base_len);
	base_len &= FILE_KEY_BYTES - 1;
	bpf_probe_read_kernel(w->key2.data, base_len, w->key.data);
	w->key2.data[base_len] = '*';
	bpf_probe_read_kernel(&w->key2.data[(base_len + 1) & (FILE_KEY_BYTES - 1)],
			      (plen - e) & (FILE_KEY_BYTES - 1), &w->key.data[e & (FILE_KEY_BYTES - 1)]);
	w->key2.prefixlen = (base_len + 1 + plen - e) * 8;
	if (w->key2.prefixlen > FILE_KEY_BYTES * 8)
		w->key2.prefixlen = FILE_KEY_BYTES * 8;
	return 1;
}

/* first_component_hash hashes the first 8 bytes of a key's first component (the key is a path
 * with '/' appended). The loader computes the same (fileFirstHash in Go). */
static __always_inline __u32 first_component_hash(struct file_key *k)
{
	__u32 plen = k->prefixlen / 8, i;
	__u64 v = 0;

	for (i = 0; i < 8; i++) {
		__u8 ch;

		if (1 + i >= plen)
			break;
		ch = k->data[1 + i];
		if (ch == '/')
			break;
		v |= (__u64)ch << (8 * i);
	}
	return (__u32)((v * 0x9E3779B97F4A7C15ULL) >> 48);
}

/* path_keep says whether the path at b->data[start] (len bytes, no NUL) is watched for the
 * operation bit: its include prefixes have it and its exclude prefixes do not. */
__noinline int path_keep(__u32 start, __u32 len, __u32 bit)
{
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct file_rule *r;
	__u32 inc = 0, exc = 0;

	if (!b || !w)
		return 0;
	make_key(&w->key, b->data, start, len);
	if (have_first) {
		__u32 zero = 0, h = first_component_hash(&w->key);
		struct file_first *ff = bpf_map_lookup_elem(&osec_f_first, &zero);

		if (ff && !(ff->bits[(h / 64) & (FILE_FIRST_BITS / 64 - 1)] & (1ULL << (h % 64))))
			return 0; /* no include prefix starts with this component */
	}
	r = bpf_map_lookup_elem(&osec_f_incl, &w->key);
	if (r)
		inc = r->mask;
	if (have_excl) {
		r = bpf_map_lookup_elem(&osec_f_excl, &w->key);
		if (r)
			exc = r->mask;
	}
	if (have_wild) {
		struct file_wild *wd = bpf_map_lookup_elem(&osec_f_wild, &w->key);

		if (wd && wild_key(w, wd->base_len)) {
			r = bpf_map_lookup_elem(&osec_f_incl, &w->key2);
			if (r)
				inc |= r->mask;
			if (have_excl) {
				r = bpf_map_lookup_elem(&osec_f_excl, &w->key2);
				if (r)
					exc |= r->mask;
			}
		}
	}
	return (inc & bit) && !(exc & bit);
}

/* binary_keep applies the binary include and exclude prefixes to the current process's
 * executable. The verdict is cached per process and executable. */
__noinline int binary_keep(void)
{
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct bin_verdict *v, nv = {};
	struct path ep = {};
	__u32 keep;

	if (!b || !w)
		return 1;
	if (!exe)
		return !have_bin_in; /* kernel threads run no binary */
	v = bpf_map_lookup_elem(&osec_f_bincache, &tgid);
	if (v && v->exe == (__u64)exe && v->start == start)
		return v->keep;

	cur_reset(w, FEXE_OFF);
	BPF_CORE_READ_INTO(&ep, exe, f_path);
	if (put_path(b, w, (__u64)ep.dentry, (__u64)ep.mnt) ||
	    (w->c.trunc & TRUNC_DEPTH)) {
		keep = 1; /* cannot be matched: fail open */
	} else {
		make_key(&w->key, b->data, FEXE_OFF, w->c.off - FEXE_OFF);
		keep = 1;
		if (have_bin_in)
			keep = bpf_map_lookup_elem(&osec_f_bin_in, &w->key) != NULL;
		if (keep && have_bin_ex)
			keep = bpf_map_lookup_elem(&osec_f_bin_ex, &w->key) == NULL;
	}
	nv.exe = (__u64)exe;
	nv.start = start;
	nv.keep = keep;
	bpf_map_update_elem(&osec_f_bincache, &tgid, &nv, BPF_ANY);
	return keep;
}

/* begin_record starts a record: what the filters need. */
static __always_inline void begin_record(struct file_event *e, __u32 op)
{
	e->op = op;
	e->flags = 0;
	e->result = 0;
	e->open_flags = 0;
	e->mode = 0;
	e->uid = 0;
	e->gid = 0;
	e->ino = 0;
	e->size = 0;
	e->path_len = 0;
	e->path2_len = 0;
	e->pad = 0;
}

/* identify fills in who and when: done only for the records the filters keep. */
static __always_inline void identify(struct file_event *e)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->hdr.kind = EVENT_FILE;
	e->hdr.pad = 0;
	e->hdr.flags = 0;
	e->hdr.cpu = bpf_get_smp_processor_id();
	e->hdr.ktime = bpf_ktime_get_boot_ns();
	e->hdr.tgid = id >> 32;
	e->hdr.tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* inode_info records the mode, owner and inode number of an opened file (FILE_CREATED is set
 * before the filters, which need it). */
static __always_inline void inode_info(struct file_event *e, struct file *f)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);

	if (!inode)
		return;
	e->mode = BPF_CORE_READ(inode, i_mode);
	e->uid = BPF_CORE_READ(inode, i_uid.val);
	e->gid = BPF_CORE_READ(inode, i_gid.val);
	e->ino = BPF_CORE_READ(inode, i_ino);
	e->flags |= FILE_MODE_KNOWN | FILE_UID_KNOWN | FILE_GID_KNOWN | FILE_INODE_KNOWN;
}

/* open_mask is the filter bit of an open: read-only, or one that may change the file. */
static __always_inline __u32 open_mask(__u32 flags, int created, int failed)
{
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) || created ||
	    ((flags & O_CREAT) && failed))
		return FILE_MASK_OPEN_WRITE;
	return FILE_MASK_OPEN_READ;
}

static __always_inline __u32 op_mask(__u32 op)
{
	switch (op) {
	case FILE_OP_UNLINK:
		return FILE_MASK_UNLINK;
	case FILE_OP_RENAME:
		return FILE_MASK_RENAME;
	case FILE_OP_CHMOD:
		return FILE_MASK_CHMOD;
	case FILE_OP_CHOWN:
		return FILE_MASK_CHOWN;
	case FILE_OP_TRUNCATE:
		return FILE_MASK_TRUNCATE;
	case FILE_OP_LINK:
		return FILE_MASK_LINK;
	case FILE_OP_SYMLINK:
		return FILE_MASK_SYMLINK;
	case FILE_OP_MKDIR:
		return FILE_MASK_MKDIR;
	case FILE_OP_RMDIR:
		return FILE_MASK_RMDIR;
	}
	return 0;
}

/* Paths that cannot be matched against prefixes: unresolved, or deeper than the walk's bound
 * (what was written is a suffix of the real path). Of a call that succeeded, or whose result
 * is not known, such a path is kept (UNMATCHABLE*: flagged, never dropped: it may be in the
 * watch set); of a call that failed it is not evaluated (SKIP*: the call did nothing, and
 * failed calls with unusable paths, EBADF or EFAULT ones, are no one's watched file). */
#define UNMATCHABLE1 1
#define UNMATCHABLE2 2
#define SKIP1 4
#define SKIP2 8
#define DROPPED 16 /* put_path dropped the only path by its first component (w->c.early) */

/* keep_record applies every filter to the record built in the per-CPU buffer: the path (for
 * rename and link, either path), then the binary filter. */
__noinline int keep_record(__u32 bit, __u32 unmatchable)
{
	struct file_buf *b = file_buf();
	struct file_work *w = file_work();
	struct file_event *e;
	int keep = 0;

	if (!b || !w)
		return 0;
	e = &b->e;
	if (!(ops_any & bit))
		return 0;
	if (unmatchable & UNMATCHABLE1)
		keep = 1;
	else if (!(unmatchable & SKIP1) && e->path_len > 0)
		keep = path_keep(0, e->path_len - 1, bit);
	if (!keep && (e->op == FILE_OP_RENAME || e->op == FILE_OP_LINK)) {
		if (unmatchable & UNMATCHABLE2)
			keep = 1;
		else if (!(unmatchable & SKIP2) && e->path2_len > 0)
			keep = path_keep(e->path_len, e->path2_len - 1, bit);
	}
	if (keep && (have_bin_in || have_bin_ex))
		keep = binary_keep();
	return keep;
}

/* record_size is the size of a record, bounded for the verifier. */
static __always_inline __u64 record_size(struct file_event *e)
{
	__u64 n = (__u64)e->path_len + e->path2_len;

	if (n > FHELD_BYTES)
		n = FHELD_BYTES;
	return sizeof(*e) + n;
}
