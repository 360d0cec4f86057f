/*
 * Mount steps. Destinations inside the container's rootfs are resolved with
 * openat2(RESOLVE_IN_ROOT), so a symlink in the image can never point a mount (or a
 * created directory, file or device) outside the rootfs; the mount itself targets the
 * resolved /proc/self/fd/N. TypeScript decides flags, order and propagation.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .mode = mode,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* mkdir -p inside the root; returns an O_PATH fd of the final directory. */
static int mkdirs_in_root(int rootfd, const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	size_t len = strlen(buf);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char saved = buf[i];
		buf[i] = 0;
		int fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
		if (fd < 0 && errno == ENOENT) {
			char *slash = strrchr(buf, '/');
			const char *base = slash ? slash + 1 : buf;
			int parent;
			if (slash && slash != buf) {
				*slash = 0;
				parent = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
				*slash = '/';
			} else {
				parent = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
			}
			if (parent < 0)
				return -1;
			if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(parent);
				return errno = e, -1;
			}
			close(parent);
			fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
		}
		buf[i] = saved;
		if (fd < 0)
			return -1;
		if (i == len)
			return fd;
		close(fd);
	}
	return open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
}

/* Splits "a/b/c" into an O_PATH fd of the (created) parent and the base name. */
static int parent_in_root(int rootfd, const char *path, char *base, size_t baselen)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	snprintf(base, baselen, "%s", slash ? slash + 1 : buf);
	if (!slash)
		return open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
	*slash = 0;
	return buf[0] ? mkdirs_in_root(rootfd, buf) : open_in_root(rootfd, "/", O_PATH | O_DIRECTORY, 0);
}

static int ensure_file_in_root(int rootfd, const char *path)
{
	char base[NAME_MAX + 1];
	int parent = parent_in_root(rootfd, path, base, sizeof(base));
	if (parent < 0)
		return -1;
	close(parent);
	int fd = open_in_root(rootfd, path, O_CREAT | O_WRONLY, 0644);
	if (fd < 0 && (errno == EISDIR || errno == ETXTBSY || errno == EACCES))
		fd = open_in_root(rootfd, path, O_PATH, 0);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Resolves a destination: "root" paths through the rootfs fd (creating dir/file as asked),
 * "abs" paths as given. Writes the path to hand to mount(2) into out. Returns an fd to
 * keep open while mounting, or -2 for an absolute path, or -1 on error. */
static int resolve_target(struct ctx *c, const char *dst, unsigned create, unsigned where, char *out, size_t outlen)
{
	if (where != MOUNT_WHERE_ROOT || c->rootfd < 0) {
		if (create == MOUNT_CREATE_DIR) {
			/* absolute mode: plain mkdir -p (used after pivot_root, where / is the container) */
			char buf[PATH_MAX];
			snprintf(buf, sizeof(buf), "%s", dst);
			for (char *p = buf + 1; *p; p++)
				if (*p == '/') {
					*p = 0;
					mkdir(buf, 0755);
					*p = '/';
				}
			mkdir(buf, 0755);
		} else if (create == MOUNT_CREATE_FILE) {
			int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd >= 0)
				close(fd);
		}
		snprintf(out, outlen, "%s", dst);
		return -2;
	}
	int fd;
	if (create == MOUNT_CREATE_DIR) {
		fd = mkdirs_in_root(c->rootfd, dst);
	} else {
		if (create == MOUNT_CREATE_FILE && ensure_file_in_root(c->rootfd, dst) < 0)
			return -1;
		fd = open_in_root(c->rootfd, dst, O_PATH, 0);
	}
	if (fd < 0)
		return -1;
	snprintf(out, outlen, "/proc/self/fd/%d", fd);
	return fd;
}

static const char *nul_if_empty(const char *s) { return s && *s ? s : NULL; }

/* mount SRC DST FSTYPE FLAGS DATA CREATE(dir|file|none) WHERE(root|abs) */
int op_mount(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	const char *src = field(r, 1), *dst = field(r, 2), *type = field(r, 3), *data = field(r, 5);
	unsigned long long flags = plan_u64(r, MOUNT_FLAGS);
	char target[PATH_MAX];
	int fd = resolve_target(c, dst, plan_enum(r, MOUNT_CREATE), plan_enum(r, MOUNT_WHERE), target, sizeof(target));
	if (fd == -1) {
		snprintf(msg, msglen, "mount %s on %s: resolving the destination in the rootfs: %s", src, dst,
			 strerror(errno));
		return -1;
	}
	int rc = mount(nul_if_empty(src), target, nul_if_empty(type), flags, nul_if_empty(data));
	if (rc < 0 && errno == EPERM && (flags & MS_REMOUNT)) {
		/* A remount must keep flags the kernel locked on this mount (e.g. nosuid, nodev
		 * inherited in a user namespace): add them and retry. */
		struct statvfs sv;
		if (statvfs(target, &sv) == 0) {
			unsigned long locked = sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RDONLY | ST_NOATIME |
							   ST_NODIRATIME | ST_RELATIME);
			rc = mount(nul_if_empty(src), target, nul_if_empty(type), flags | locked, nul_if_empty(data));
		}
	}
	int saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		snprintf(msg, msglen, "mount %s to %s (type %s, flags 0x%llx, data \"%s\"): %s", *src ? src : "none", dst,
			 *type ? type : "none", flags, data, strerror(saved));
		errno = saved;
	}
	return rc;
}

/* mknod PATH TYPE(c|b|p) MAJOR MINOR MODE UID GID  (PATH inside the rootfs) */
int op_mknod(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	const char *path = field(r, 1), *type = field(r, 2);
	unsigned long long maj = plan_u64(r, MKNOD_MAJOR), min = plan_u64(r, MKNOD_MINOR), mode = plan_u64(r, MKNOD_MODE),
			   uid = plan_u64(r, MKNOD_UID), gid = plan_u64(r, MKNOD_GID);
	unsigned kind = plan_enum(r, MKNOD_TYPE);
	mode_t fmt = kind == MKNOD_TYPE_B ? S_IFBLK : kind == MKNOD_TYPE_P ? S_IFIFO : S_IFCHR;
	char base[NAME_MAX + 1];
	int parent = parent_in_root(c->rootfd, path, base, sizeof(base));
	if (parent < 0) {
		snprintf(msg, msglen, "mknod %s: creating parent directory: %s", path, strerror(errno));
		return -1;
	}
	/* mknodat needs a real directory fd, not O_PATH: reopen it through /proc. */
	char pp[64];
	snprintf(pp, sizeof(pp), "/proc/self/fd/%d", parent);
	int dirfd = open(pp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(parent);
	if (dirfd < 0) {
		snprintf(msg, msglen, "mknod %s: open parent: %s", path, strerror(errno));
		return -1;
	}
	unlinkat(dirfd, base, 0); /* replace whatever the image had there */
	int rc = mknodat(dirfd, base, fmt | (mode & 07777), makedev(maj, min));
	if (rc == 0)
		rc = fchownat(dirfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
	if (rc == 0)
		rc = fchmodat(dirfd, base, mode & 07777, 0); /* mknod is subject to umask */
	int saved = errno;
	close(dirfd);
	if (rc < 0)
		snprintf(msg, msglen, "mknod %s (%s %llu:%llu): %s", path, type, maj, min, strerror(saved));
	errno = saved;
	return rc;
}

/* bind-dev HOSTPATH PATH: in a user namespace devices cannot be created, so bind the host's. */
int op_bind_dev(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	const char *host = field(r, 1), *path = field(r, 2);
	char target[PATH_MAX];
	int fd = resolve_target(c, path, MOUNT_CREATE_FILE, MOUNT_WHERE_ROOT, target, sizeof(target));
	if (fd == -1 || mount(host, target, NULL, MS_BIND, NULL) < 0) {
		int saved = errno;
		snprintf(msg, msglen, "bind device %s to %s: %s", host, path, strerror(saved));
		if (fd >= 0)
			close(fd);
		return errno = saved, -1;
	}
	close(fd);
	return 0;
}

/* symlink TARGET LINKPATH (LINKPATH inside the rootfs; an existing entry is kept) */
int op_symlink(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	char base[NAME_MAX + 1];
	int parent = parent_in_root(c->rootfd, field(r, 2), base, sizeof(base));
	if (parent < 0 || (symlinkat(field(r, 1), parent, base) < 0 && errno != EEXIST)) {
		int saved = errno;
		snprintf(msg, msglen, "symlink %s -> %s: %s", field(r, 2), field(r, 1), strerror(saved));
		if (parent >= 0)
			close(parent);
		return errno = saved, -1;
	}
	close(parent);
	return 0;
}

/* pivot-root NEWROOT: pivot_root(".", ".") then detach the old root (no put_old dir needed). */
int op_pivot_root(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	const char *root = field(r, 1);
	const char *stage = "chdir";
	if (chdir(root) < 0)
		goto fail;
	stage = "pivot_root";
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		goto fail;
	/* The old root is stacked on top; make it a slave so the detach below cannot
	 * propagate to the host, then detach it. */
	stage = "make old root rslave";
	if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		goto fail;
	stage = "umount old root";
	if (umount2(".", MNT_DETACH) < 0)
		goto fail;
	stage = "chdir /";
	if (chdir("/") < 0)
		goto fail;
	if (c->rootfd >= 0)
		close(c->rootfd);
	c->rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(c->rootfs, sizeof(c->rootfs), "/");
	return 0;
fail:
	snprintf(msg, msglen, "pivot_root to %s (%s): %s", root, stage, strerror(errno));
	return -1;
}

/* mask PATH: hide a path (tmpfs over a directory, /dev/null over a file). Missing is fine. */
int op_mask(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	const char *path = field(r, 1);
	struct stat st;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : (snprintf(msg, msglen, "mask %s: stat: %s", path, strerror(errno)), -1);
	int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k")
				     : mount("/dev/null", path, NULL, MS_BIND, NULL);
	if (rc < 0)
		snprintf(msg, msglen, "mask %s: %s", path, strerror(errno));
	return rc;
}

static int remount_bind(const char *path, unsigned long flags)
{
	int rc = mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL);
	if (rc < 0 && errno == EPERM) {
		struct statvfs sv;
		if (statvfs(path, &sv) == 0)
			rc = mount(NULL, path, NULL,
				   MS_BIND | MS_REMOUNT | flags | (sv.f_flag & (ST_NOSUID | ST_NODEV | ST_NOEXEC)), NULL);
	}
	return rc;
}

/* readonly PATH: bind the path on itself and remount it read-only. Missing is fine. */
int op_readonly(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	const char *path = field(r, 1);
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(msg, msglen, "readonly %s: bind: %s", path, strerror(errno));
		return -1;
	}
	if (remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0 &&
	    remount_bind(path, MS_RDONLY) < 0) {
		snprintf(msg, msglen, "readonly %s: remount: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* remount PATH FLAGS: change the flags of an existing (bind) mount, e.g. a read-only rootfs. */
int op_remount(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	unsigned long long flags = plan_u64(r, REMOUNT_FLAGS);
	if (remount_bind(field(r, 1), (unsigned long)flags) < 0) {
		snprintf(msg, msglen, "remount %s (flags 0x%llx): %s", field(r, 1), flags, strerror(errno));
		return -1;
	}
	return 0;
}
