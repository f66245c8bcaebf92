/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Record layouts and filter map types of the file sensor (file.bpf.c); bpf2go generates the Go
 * types from these. */
#pragma once

#include "events.h"

/* The operation a file record reports: EventName file.<operation>. */
enum file_op {
	FILE_OP_OPEN = 1,
	FILE_OP_UNLINK = 2,
	FILE_OP_RENAME = 3,
	FILE_OP_CHMOD = 4,
	FILE_OP_CHOWN = 5,
	FILE_OP_TRUNCATE = 6,
	FILE_OP_LINK = 7,
	FILE_OP_SYMLINK = 8,
	FILE_OP_MKDIR = 9,
	FILE_OP_RMDIR = 10,
	FILE_OP_MAX = 11,
};

/* Filter bits: what a watched prefix reports. Opens are split by intent: an open for reading
 * only, and an open that may change the file (write access, O_TRUNC, or O_CREAT that created
 * the file or failed). */
enum file_mask {
	FILE_MASK_OPEN_READ = 1 << 0,
	FILE_MASK_OPEN_WRITE = 1 << 1,
	FILE_MASK_UNLINK = 1 << 2,
	FILE_MASK_RENAME = 1 << 3,
	FILE_MASK_CHMOD = 1 << 4,
	FILE_MASK_CHOWN = 1 << 5,
	FILE_MASK_TRUNCATE = 1 << 6,
	FILE_MASK_LINK = 1 << 7,
	FILE_MASK_SYMLINK = 1 << 8,
	FILE_MASK_MKDIR = 1 << 9,
	FILE_MASK_RMDIR = 1 << 10,
	FILE_MASK_ALL = (1 << 11) - 1,
};

/* file_event.flags */
enum file_flags {
	FILE_RESULT_KNOWN = 1 << 0,     /* result holds the syscall's return value */
	FILE_PATH_LEXICAL = 1 << 1,     /* paths joined lexically: dirfd's or cwd's walk + the caller's string */
	FILE_PATH_TRUNCATED = 1 << 2,   /* path deeper or longer than the bounds: a suffix of the real one */
	FILE_PATH_UNRESOLVED = 1 << 3,  /* no path: bad fd, unreadable string */
	FILE_PATH2_TRUNCATED = 1 << 4,  /* the same for the second path (rename/link source, symlink target) */
	FILE_PATH2_UNRESOLVED = 1 << 5,
	FILE_CREATED = 1 << 6,          /* the open created the file (FMODE_CREATED) */
	FILE_MODE_KNOWN = 1 << 7,       /* mode is valid */
	FILE_UID_KNOWN = 1 << 8,        /* uid is valid */
	FILE_GID_KNOWN = 1 << 9,        /* gid is valid */
	FILE_INODE_KNOWN = 1 << 10,     /* ino is valid */
	FILE_SIZE_KNOWN = 1 << 11,      /* size is valid */
	FILE_FROM_LSM = 1 << 12,        /* paths from the LSM hook's kernel objects */
	FILE_NO_SYSCALL = 1 << 13,      /* LSM hook outside a watched syscall (io_uring, kernel, no tracefs) */
};

/* A file record: the fixed part, then data: the path (root first, NUL-terminated), then for
 * rename and link the original path, for symlink the target string (NUL-terminated). */
struct file_event {
	struct event_header hdr;
	__u32 op;          /* enum file_op */
	__u32 flags;       /* enum file_flags */
	__s64 result;      /* syscall return value (fd, 0 or -errno) when FILE_RESULT_KNOWN */
	__u32 open_flags;  /* open: O_* flags; rename: RENAME_* flags; other *at: AT_* flags */
	__u32 mode;        /* open: the inode's mode; chmod, mkdir: the new mode */
	__u32 uid;         /* open: the inode's owner; chown: the new owner */
	__u32 gid;
	__u64 ino;         /* open: the inode number */
	__s64 size;        /* truncate: the new length */
	__u16 path_len;    /* bytes of the path, its NUL included */
	__u16 path2_len;   /* bytes of the second path or target, its NUL included (0: none) */
	__u32 pad;
	char comm[16];
};

/* Key of the path and binary prefix tries: the first FILE_KEY_BYTES bytes of an absolute path.
 * Prefixes are stored with a trailing '/' and looked up with one appended, so that /etc
 * matches /etc and /etc/passwd but not /etcd. */
#define FILE_KEY_BYTES 256
struct file_key {
	__u32 prefixlen; /* bits */
	__u8 data[FILE_KEY_BYTES];
};

/* Value of the include and exclude tries: the operations (enum file_mask) a prefix reports or
 * drops, its ancestors' masks included (filled by the loader). */
struct file_rule {
	__u32 mask;
};

/* The first-component filter: one bit per hash of the first component of an include prefix
 * (its first 8 bytes); a path whose first component's bit is clear matches no include prefix,
 * and skips the tries. */
#define FILE_FIRST_BITS 65536
struct file_first {
	__u64 bits[FILE_FIRST_BITS / 64];
};

/* Value of the wildcard-base trie: for a pattern like /home/<*>/.ssh, the base /home/ and its
 * length in bytes. A path under a base is looked up a second time with the component after the
 * base replaced by "*". */
struct file_wild {
	__u32 base_len;
};
