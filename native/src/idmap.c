/*
 * The "idmapped-overlay" step: a container root filesystem for a user-namespaced container
 * whose image layers stay shared and unchanged on disk. Each lower dir is cloned as a
 * detached mount (open_tree OPEN_TREE_CLONE) and shifted by the container's id maps
 * (mount_setattr MOUNT_ATTR_IDMAP with a user namespace that carries them), so a file that
 * is root's in the layer is the remapped root's in the container. The overlay is then built
 * with the new mount API from those mount fds ("lowerdir+" with FSCONFIG_SET_FD, Linux 6.13+)
 * and moved onto the target. The upper dir is not idmapped: it holds host ids, and the engine
 * gave it to the remapped root. Copy-up keeps the owner the idmapped lower shows.
 *
 * The user namespace only carries the maps: a throwaway child is cloned into a new one, the
 * maps are written from here (we are root in the parent namespace), its /proc/PID/ns/user is
 * opened, and the child is let go. The idmapped mounts keep the namespace alive.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define AUTO_FD __attribute__((cleanup(close_fd))) int

static int fail(char *msg, size_t msglen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < msglen)
		snprintf(msg + n, msglen - (size_t)n, ": %s", strerror(e));
	errno = e;
	return -1;
}

/* A user namespace with these uid_map and gid_map contents, as an fd (or -1, msg set). */
static int userns_with_maps(const char *uid_map, const char *gid_map, char *msg, size_t msglen)
{
	int hold[2];
	if (pipe2(hold, O_CLOEXEC) < 0)
		return fail(msg, msglen, "pipe for the idmap user namespace");
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		fail(msg, msglen, "clone(CLONE_NEWUSER) for the idmap user namespace");
		close(hold[0]), close(hold[1]);
		return -1;
	}
	if (pid == 0) {
		char c;
		close(hold[1]);
		/* waits until the monitor has the namespace open (EOF), then goes */
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(hold[0]);
	char path[64];
	int ns = -1;
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
	if (write_file(path, uid_map, strlen(uid_map)) < 0) {
		fail(msg, msglen, "write %s (%s)", path, uid_map);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
	if (write_file(path, gid_map, strlen(gid_map)) < 0) {
		fail(msg, msglen, "write %s (%s)", path, gid_map);
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		fail(msg, msglen, "open %s", path);
out:;
	int e = errno;
	close(hold[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	errno = e;
	return ns;
}

/* A detached, idmapped clone of the directory `dir` (or -1, msg set). */
static int idmapped_clone(const char *dir, int userns, char *msg, size_t msglen)
{
	int fd = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return fail(msg, msglen, "open_tree(OPEN_TREE_CLONE) %s", dir);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)userns};
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		fail(msg, msglen, "mount_setattr(MOUNT_ATTR_IDMAP) %s", dir);
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct layer_fds {
	int n, fd[256];
};
static void close_layers(void *p)
{
	struct layer_fds *l = p;
	for (int i = 0; i < l->n; i++)
		close(l->fd[i]);
}

int idmapped_overlay(const struct record *r, char *msg, size_t msglen)
{
	const char *target = field(r, IDMAPPED_OVERLAY_TARGET);
	AUTO_FD userns = userns_with_maps(field(r, IDMAPPED_OVERLAY_UID_MAP), field(r, IDMAPPED_OVERLAY_GID_MAP), msg, msglen);
	if (userns < 0)
		return -1;
	AUTO_FD fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return fail(msg, msglen, "fsopen(overlay) for %s", target);
	/* The detached mounts stay open until the overlay exists: closing the last fd of one
	 * dissolves it, and the overlay clones each layer's mount only at FSCONFIG_CMD_CREATE. */
	struct layer_fds __attribute__((cleanup(close_layers))) layers = {0};
	if (r->n - IDMAPPED_OVERLAY_REST > 256) {
		errno = E2BIG;
		return fail(msg, msglen, "%u lower dirs for %s (at most 256)", r->n - IDMAPPED_OVERLAY_REST, target);
	}
	for (uint32_t i = IDMAPPED_OVERLAY_REST; i < r->n; i++) {
		int layer = idmapped_clone(field(r, i), userns, msg, msglen);
		if (layer < 0)
			return -1;
		layers.fd[layers.n++] = layer;
		if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layer) < 0)
			return fail(msg, msglen, "fsconfig(lowerdir+) %s", field(r, i));
	}
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", field(r, IDMAPPED_OVERLAY_UPPERDIR), 0) < 0)
		return fail(msg, msglen, "fsconfig(upperdir) %s", field(r, IDMAPPED_OVERLAY_UPPERDIR));
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", field(r, IDMAPPED_OVERLAY_WORKDIR), 0) < 0)
		return fail(msg, msglen, "fsconfig(workdir) %s", field(r, IDMAPPED_OVERLAY_WORKDIR));
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fail(msg, msglen, "fsconfig(FSCONFIG_CMD_CREATE) overlay for %s", target);
	AUTO_FD mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		return fail(msg, msglen, "fsmount overlay for %s", target);
	if (syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail(msg, msglen, "move_mount overlay onto %s", target);
	return 0;
}
