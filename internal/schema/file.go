package schema

// File event names: file.<operation>.
const (
	EventFileOpen     = "file.open"
	EventFileUnlink   = "file.unlink"
	EventFileRename   = "file.rename"
	EventFileChmod    = "file.chmod"
	EventFileChown    = "file.chown"
	EventFileTruncate = "file.truncate"
	EventFileLink     = "file.link"
	EventFileSymlink  = "file.symlink"
	EventFileMkdir    = "file.mkdir"
	EventFileRmdir    = "file.rmdir"
)

// FileEvents are the file sensor's event names, in documentation order.
var FileEvents = []string{
	EventFileOpen, EventFileUnlink, EventFileRename, EventFileChmod, EventFileChown,
	EventFileTruncate, EventFileLink, EventFileSymlink, EventFileMkdir, EventFileRmdir,
}

// File attributes: the semantic conventions' file.* where they exist.
const (
	FilePath              = "file.path"
	FileName              = "file.name"
	FileDirectory         = "file.directory"
	FileMode              = "file.mode"
	FileOwnerID           = "file.owner.id"
	FileGroupID           = "file.group.id"
	FileInode             = "file.inode"
	FileSize              = "file.size"
	FileSymlinkTargetPath = "file.symbolic_link.target_path"

	FileOriginalPath          = "otelsec.file.original.path"
	FileOpenIntent            = "otelsec.file.open.intent"
	FileCreated               = "otelsec.file.created"
	FileFlags                 = "otelsec.file.flags"
	FileOutcome               = "otelsec.file.outcome"
	FilePathResolution        = "otelsec.file.path.resolution"
	FilePathTruncated         = "otelsec.file.path.truncated"
	FileOriginalPathTruncated = "otelsec.file.original.truncated"
	FileTargetTruncated       = "otelsec.file.symbolic_link.target_path.truncated"
)

var (
	twoPathEvents = []string{EventFileRename, EventFileLink}
	openEvents    = []string{EventFileOpen}
)

func init() {
	All = append(All,
		Attribute{Name: FilePath, Type: String, Events: FileEvents, Presence: "when resolved (see otelsec.file.path.resolution)", Source: "kernel: the LSM hook's struct path, the new fd's struct file, or the dirfd's or cwd's dentry walk joined with the caller's string; relative to the process's root", Example: "/etc/shadow", Description: "Absolute. For rename and link the new name, for symlink the link itself. In a container, the path inside it.", ECS: "file.path", CIM: "file_path"},
		Attribute{Name: FileName, Type: String, Events: FileEvents, Presence: "with file.path", Source: "last element of file.path", Example: "shadow", Description: "", ECS: "file.name", CIM: "file_name"},
		Attribute{Name: FileDirectory, Type: String, Events: FileEvents, Presence: "with file.path", Source: "file.path without its last element", Example: "/etc", Description: "", ECS: "file.directory"},
		Attribute{Name: FileMode, Type: String, Events: []string{EventFileOpen, EventFileChmod, EventFileMkdir}, Presence: "open: when it succeeded; chmod, mkdir: always", Source: "kernel: open: the opened inode's mode; chmod: the mode requested; mkdir: the mode requested less the umask", Example: "4755", Description: "Octal permission bits, with set-user-ID (4000), set-group-ID (2000) and sticky (1000).", ECS: "file.mode"},
		Attribute{Name: FileOwnerID, Type: String, Events: []string{EventFileOpen, EventFileChown}, Presence: "open: when it succeeded; chown: when the owner changes", Source: "kernel: open: the inode's owner; chown: the new owner (lsm: the kernel's uid; tracepoint: the caller's argument, as its user namespace sees it)", Example: "0", Description: "", ECS: "file.uid"},
		Attribute{Name: FileGroupID, Type: String, Events: []string{EventFileOpen, EventFileChown}, Presence: "open: when it succeeded; chown: when the group changes", Source: "kernel: as file.owner.id", Example: "42", Description: "", ECS: "file.gid"},
		Attribute{Name: FileInode, Type: String, Events: openEvents, Presence: "when the open succeeded", Source: "kernel: the opened inode's number", Example: "393232", Description: "", ECS: "file.inode"},
		Attribute{Name: FileSize, Type: Int, Events: []string{EventFileTruncate}, Presence: "when known (an LSM hook outside a syscall has no length)", Source: "kernel: the length given to truncate or ftruncate", Example: "0", Description: "The new size in bytes.", ECS: "file.size", CIM: "file_size"},
		Attribute{Name: FileSymlinkTargetPath, Type: String, Events: []string{EventFileSymlink}, Presence: "when readable", Source: "kernel: the target string, as given (not resolved)", Example: "../lib/libc.so.6", Description: "", ECS: "file.target_path"},
		Attribute{Name: FileOriginalPath, Type: String, Events: twoPathEvents, Presence: "when resolved", Source: "kernel: as file.path", Example: "/tmp/x", Description: "rename: the old name; link: the existing name the new one links to."},
		Attribute{Name: FileOpenIntent, Type: StringSlice, Events: openEvents, Presence: "always", Source: "the open flags", Example: `["write","create","truncate"]`, Description: "read (O_RDONLY or O_RDWR), write (O_WRONLY or O_RDWR), create (O_CREAT), truncate (O_TRUNC), append (O_APPEND); path (O_PATH) alone."},
		Attribute{Name: FileCreated, Type: Bool, Events: openEvents, Presence: "when true", Source: "kernel: the file's FMODE_CREATED", Example: "true", Description: "The open created the file."},
		Attribute{Name: FileFlags, Type: Int, Events: FileEvents, Presence: "when not 0", Source: "the call's flags", Example: "577", Description: "open: O_* (as the architecture numbers them); rename: RENAME_*; unlink, rmdir, chmod, chown, link: AT_*."},
		Attribute{Name: FileOutcome, Type: String, Events: FileEvents, Presence: "always", Source: "kernel: the syscall's return value", Example: "failure", Description: "success, failure (see error.type), or unknown: an LSM hook outside a watched syscall (io_uring, a kernel thread) saw the operation and no syscall returned its result. (The ECS exporter's event.outcome is the event name's, not this.)"},
		Attribute{Name: FilePathResolution, Type: String, Events: FileEvents, Presence: "always", Source: "how the sensor resolved the paths", Example: "kernel", Description: "kernel: the paths of the objects the kernel acted on (an LSM hook's, or the fd's); lexical: the dirfd's or cwd's path joined with the caller's string, \".\" and \"..\" removed as text, symbolic links in the string not followed (a call that failed before any hook, or the tracepoint backend's path calls); unresolved: no path (bad fd, unreadable string)."},
		Attribute{Name: FilePathTruncated, Type: Bool, Events: FileEvents, Presence: "when true", Source: "kernel: the path is deeper than 64 components (the last 64 are kept) or longer than 4 KiB (the first 4 KiB are kept)", Example: "true", Description: "Such a path cannot be matched against the watch set: the call is reported whenever its operation is watched anywhere (if it failed, it is dropped)."},
		Attribute{Name: FileOriginalPathTruncated, Type: Bool, Events: twoPathEvents, Presence: "when true", Source: "as otelsec.file.path.truncated", Example: "true", Description: "otelsec.file.original.path is cut."},
		Attribute{Name: FileTargetTruncated, Type: Bool, Events: []string{EventFileSymlink}, Presence: "when true", Source: "kernel: target longer than 4 KiB", Example: "true", Description: ""},
	)
	shared = append(shared, Attribute{Name: "error.type", Type: String, Events: FileEvents, Presence: "when the call failed", Source: "kernel: the syscall's return value", Example: "EACCES", Description: "The errno name: ENOENT, EACCES, EPERM, EEXIST, ENOTEMPTY, ...", ECS: "error.code"})
	Events = append(Events,
		Event{Name: EventFileOpen, Meaning: "a file was opened (or an open failed): intent, result",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"access"}, ECSAction: "open",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}},
		Event{Name: EventFileUnlink, Meaning: "a file was deleted",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"deletion"}, ECSAction: "unlink",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "deleted"},
		Event{Name: EventFileRename, Meaning: "a file was renamed or moved",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"change"}, ECSAction: "rename",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "modified"},
		Event{Name: EventFileChmod, Meaning: "a file's permissions changed",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"change"}, ECSAction: "chmod",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "acl_modified"},
		Event{Name: EventFileChown, Meaning: "a file's owner or group changed",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"change"}, ECSAction: "chown",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "acl_modified"},
		Event{Name: EventFileTruncate, Meaning: "a file was truncated (truncate, ftruncate)",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"change"}, ECSAction: "truncate",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "modified"},
		Event{Name: EventFileLink, Meaning: "a hard link was created",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"creation"}, ECSAction: "link",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "created"},
		Event{Name: EventFileSymlink, Meaning: "a symbolic link was created",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"creation"}, ECSAction: "symlink",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "created"},
		Event{Name: EventFileMkdir, Meaning: "a directory was created",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"creation"}, ECSAction: "mkdir",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "created"},
		Event{Name: EventFileRmdir, Meaning: "a directory was removed",
			ECSKind: "event", ECSCategory: []string{"file"}, ECSType: []string{"deletion"}, ECSAction: "rmdir",
			CIMDataModel: "Endpoint.Filesystem", CIMTags: []string{"endpoint", "filesystem"}, CIMAction: "deleted"},
	)
}
