/*
 * The container child: created by clone() with the namespace flags, it waits for the
 * monitor's "go" (uid/gid maps written, placed in its cgroups), then executes the
 * child steps of the plan in order and finally execve()s the user's program.
 * Each step is one syscall-sized action chosen by TypeScript; any failure is sent back
 * as {step, op, errno, message} and the child exits.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

_Noreturn void child_fail(struct ctx *c, size_t step, const char *op, int err, const char *fmt, ...)
{
	char msg[1024], stepbuf[24], errbuf[24];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(stepbuf, sizeof(stepbuf), "%zu", step);
	snprintf(errbuf, sizeof(errbuf), "%d", err);
	/* After `start` accepted, the error goes to the start caller; before, to the monitor. */
	int fd = c->start_conn >= 0 ? c->start_conn : c->sync_fd;
	send_error(fd, stepbuf, op, errbuf, msg);
	_exit(1);
}

int write_file(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, data, len);
	int saved = errno;
	close(fd);
	if (w < 0 || (size_t)w != len) {
		errno = w < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

bool parse_u64(const char *s, unsigned long long *out)
{
	char *end;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == 0;
}

/* lo of a network namespace this process was created in: up (it starts down). */
static int loopback_up(char *msg, size_t msglen)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		snprintf(msg, msglen, "socket for lo: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (!rc && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (rc)
		snprintf(msg, msglen, "set lo up: %s", strerror(errno));
	int saved = errno;
	close(s);
	errno = saved;
	return rc;
}

static void wait_for_go(struct ctx *c)
{
	struct record r;
	char why[256];
	if (msg_read(c->sync_fd, &r, why, sizeof(why)) != 1)
		_exit(1); /* the monitor is gone: nothing to report to */
	if (r.op != MSG_GO)
		child_fail(c, 0, "sync", EPROTO, "expected \"go\" from the monitor, got \"%.64s\"", field(&r, 0));
	c->host_pid = (pid_t)plan_u64(&r, MSG_GO_HOST_PID);
	wire_free(&r);
}

/* PATH search like execvp, but with the container's PATH, done before `start` so a
 * missing program is reported by `create` (as runc does). */
static int lookup_program(struct ctx *c, const char *prog, const char *path_env, char *msg, size_t msglen)
{
	if (strchr(prog, '/')) {
		struct stat st;
		/* A directory passes access(X_OK) but execve refuses it: say so now (126, as runc). */
		if (stat(prog, &st) == 0 && S_ISDIR(st.st_mode))
			errno = EACCES;
		else if (access(prog, X_OK) == 0)
			errno = 0;
		if (errno != 0) {
			snprintf(msg, msglen, "exec: %s: %s", prog, strerror(errno));
			return -1;
		}
		snprintf(c->exec_path, sizeof(c->exec_path), "%s", prog);
		return 0;
	}
	const char *p = path_env && *path_env ? path_env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	int last = ENOENT;
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t dl = colon ? (size_t)(colon - p) : strlen(p);
		char cand[PATH_MAX];
		snprintf(cand, sizeof(cand), "%.*s/%s", (int)dl, dl ? p : ".", prog);
		struct stat st;
		if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(cand, X_OK) == 0) {
				snprintf(c->exec_path, sizeof(c->exec_path), "%s", cand);
				return 0;
			}
			last = errno;
		}
		p += dl;
		if (*p == ':')
			p++;
	}
	errno = last;
	snprintf(msg, msglen, "exec: \"%s\": executable file not found in $PATH", prog);
	return -1;
}

/* The OCI create/start split: block in accept() on the inherited start socket until
 * `gantry-runtime start` connects. The socket was bound by the monitor on the host, so
 * this works whatever the container's mount namespace looks like. */
static void wait_for_start(struct ctx *c, size_t step)
{
	char stepbuf[24];
	snprintf(stepbuf, sizeof(stepbuf), "%zu", step);
	/* Where the monitor stays (an engine's container, `run`), a child still waiting when its
	 * monitor dies could never report an exit or log a line, and nobody may be left to start
	 * or delete it: it goes with the monitor instead of waiting in accept() forever. The
	 * monitor is our parent here (a joiner has been reaped and we were reparented to the
	 * subreaper before "go"), and it is alive: it is waiting for "ready". */
	if (c->parent_stays && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(c, step, "wait-start", errno, "prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
	send_ready(c->sync_fd, stepbuf);
	for (;;) {
		int conn = accept4(c->start_listen, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno == EINTR)
				continue;
			child_fail(c, step, "wait-start", errno, "accept on start socket: %s", strerror(errno));
		}
		c->start_conn = conn;
		break;
	}
	/* Started: from here the container lives whatever happens to its monitor. */
	if (c->parent_stays)
		prctl(PR_SET_PDEATHSIG, 0);
	close(c->start_listen);
	c->start_listen = -1;
	close(c->sync_fd); /* the monitor learns from EOF that start happened */
	c->sync_fd = -1;
}

_Noreturn void run_child(struct ctx *c)
{
	char msg[1024];
	const char *path_env = NULL;
	char **argv = NULL, **envp = NULL;

	prctl(PR_SET_NAME, "gantry:init");
	/* The TypeScript channel belongs to the monitor: holding it would keep the runtime
	 * CLI waiting for an EOF that never comes. */
	if (c->report_fd > 2)
		close(c->report_fd);
	if (c->plan_fd > 2 && c->plan_fd != c->report_fd)
		close(c->plan_fd);
	/* Not dumpable until execve: a process in the container cannot open our
	 * /proc/PID/exe (the host's helper binary) in this window (CVE-2019-5736). */
	prctl(PR_SET_DUMPABLE, 0);
	/* Into its cgroup v1 hierarchies by itself, first: "0" moves the calling thread (this
	 * process's only one), which the kernel does without its global cgroup attach lock.
	 * The files were opened by the monitor, whose credentials and cgroup namespace the
	 * kernel checks; the monitor waits for "placed" before hooks and "go". */
	if (c->njoin > 0) {
		for (int i = 0; i < c->njoin; i++) {
			if (write(c->join_fd[i], "0", 1) < 0)
				child_fail(c, c->join_step[i], "join-cgroup", errno, "write \"0\" to %s: %s", field(&c->plan.rec[c->join_step[i]], JOIN_CGROUP_PATH),
					   strerror(errno));
			close(c->join_fd[i]);
		}
		c->njoin = 0;
		send_placed(c->sync_fd);
	}
	wait_for_go(c);
	/* Monitor mode: the container's stdio are pipes the monitor reads (logs, attach). */
	for (int fd = 0; fd < 3; fd++) {
		if (c->stdio_child[fd] < 0)
			continue;
		if (dup2(c->stdio_child[fd], fd) < 0)
			child_fail(c, 0, "stdio", errno, "dup2 stdio pipe to fd %d: %s", fd, strerror(errno));
		close(c->stdio_child[fd]);
	}

	for (size_t i = c->plan.child_start; i < c->plan.n; i++) {
		const struct record *r = &c->plan.rec[i];
		const char *op = field(r, 0);
		int rc = 0;
		msg[0] = 0;
		errno = 0;

		if (r->op == OP_END)
			break;
		/* every record was checked against plan_ops (plan-check.c) before the clone */
		switch ((enum plan_op)r->op) {
		case OP_UNSHARE: {
			unsigned long long flags = plan_u64(r, UNSHARE_FLAGS);
			rc = unshare((int)flags);
			if (rc)
				snprintf(msg, sizeof(msg), "unshare(0x%llx): %s", flags, strerror(errno));
			break;
		}
		case OP_SETSID:
			if (setsid() < 0 && errno != EPERM) {
				rc = -1;
				snprintf(msg, sizeof(msg), "setsid: %s", strerror(errno));
			}
			break;
		case OP_WRITE:
			rc = write_file(field(r, 1), field(r, 2), r->len[2]);
			if (rc)
				snprintf(msg, sizeof(msg), "write %s: %s", field(r, 1), strerror(errno));
			break;
		case OP_ROOTFS:
			snprintf(c->rootfs, sizeof(c->rootfs), "%s", field(r, 1));
			c->rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (c->rootfd < 0) {
				rc = -1;
				snprintf(msg, sizeof(msg), "open rootfs %s: %s", c->rootfs, strerror(errno));
			}
			break;
		case OP_MOUNT:
			rc = op_mount(c, r, msg, sizeof(msg));
			break;
		case OP_MKNOD:
			rc = op_mknod(c, r, msg, sizeof(msg));
			break;
		case OP_BIND_DEV:
			rc = op_bind_dev(c, r, msg, sizeof(msg));
			break;
		case OP_SYMLINK:
			rc = op_symlink(c, r, msg, sizeof(msg));
			break;
		case OP_PIVOT_ROOT:
			rc = op_pivot_root(c, r, msg, sizeof(msg));
			break;
		case OP_CHROOT:
			rc = chroot(field(r, 1));
			if (!rc)
				rc = chdir("/");
			if (rc)
				snprintf(msg, sizeof(msg), "chroot %s: %s", field(r, 1), strerror(errno));
			break;
		case OP_MASK:
			rc = op_mask(c, r, msg, sizeof(msg));
			break;
		case OP_READONLY:
			rc = op_readonly(c, r, msg, sizeof(msg));
			break;
		case OP_REMOUNT:
			rc = op_remount(c, r, msg, sizeof(msg));
			break;
		case OP_LOOPBACK_UP:
			rc = loopback_up(msg, sizeof(msg));
			break;
		case OP_HOSTNAME:
			rc = sethostname(field(r, 1), r->len[1]);
			if (rc)
				snprintf(msg, sizeof(msg), "sethostname %s: %s", field(r, 1), strerror(errno));
			break;
		case OP_DOMAINNAME:
			rc = setdomainname(field(r, 1), r->len[1]);
			if (rc)
				snprintf(msg, sizeof(msg), "setdomainname %s: %s", field(r, 1), strerror(errno));
			break;
		case OP_SYSCTL: {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "/proc/sys/%s", field(r, 1));
			for (char *p = path + 10; *p; p++)
				if (*p == '.')
					*p = '/';
			rc = write_file(path, field(r, 2), r->len[2]);
			if (rc)
				snprintf(msg, sizeof(msg), "sysctl %s=%s (write %s): %s", field(r, 1), field(r, 2), path,
					 strerror(errno));
			break;
		}
		case OP_RLIMIT:
			rc = op_rlimit(c, r, msg, sizeof(msg));
			break;
		case OP_HOOK:
			rc = run_hook(r, c->host_pid, msg, sizeof(msg));
			if (rc && !errno)
				errno = ECANCELED;
			break;
		case OP_CONSOLE:
			rc = make_pty(c, r, msg, sizeof(msg));
			break;
		case OP_CHDIR:
			rc = chdir(field(r, 1));
			if (rc)
				snprintf(msg, sizeof(msg), "chdir to cwd (\"%s\") set in config.json failed: %s", field(r, 1),
					 strerror(errno));
			break;
		case OP_USER:
			rc = op_user(c, r, msg, sizeof(msg));
			break;
		case OP_UMASK:
			umask((mode_t)plan_u64(r, UMASK_MASK));
			break;
		case OP_CAPS:
			rc = op_caps(c, r, msg, sizeof(msg));
			break;
		case OP_NO_NEW_PRIVS:
			rc = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
			if (rc)
				snprintf(msg, sizeof(msg), "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
			break;
		case OP_SECCOMP_INIT:
		case OP_SECCOMP_ARCH:
		case OP_SECCOMP_FLAG:
		case OP_SECCOMP_RULE:
		case OP_SECCOMP_LOAD:
			rc = seccomp_step(c, r, msg, sizeof(msg));
			break;
		case OP_ARGV:
			argv = calloc(r->n, sizeof(char *));
			for (uint32_t k = 1; k < r->n; k++)
				argv[k - 1] = r->f[k];
			break;
		case OP_ENV:
			envp = calloc(r->n, sizeof(char *));
			for (uint32_t k = 1; k < r->n; k++) {
				envp[k - 1] = r->f[k];
				if (!strncmp(r->f[k], "PATH=", 5))
					path_env = r->f[k] + 5;
			}
			break;
		case OP_LOOKUP:
			if (!argv || !argv[0]) {
				rc = -1, errno = EINVAL;
				snprintf(msg, sizeof(msg), "no program to run (empty process.args)");
			} else {
				rc = lookup_program(c, argv[0], path_env, msg, sizeof(msg));
			}
			break;
		case OP_WAIT_START:
			wait_for_start(c, i);
			break;
		case OP_EXEC:
			if (!envp)
				envp = calloc(1, sizeof(char *));
			/* Every fd but 0-2 and the preserved ones closes on exec (CVE-2024-21626:
			 * no host directory fd may leak into the container). */
			syscall(SYS_close_range, 3 + (unsigned)plan_u64(r, EXEC_PRESERVE_FDS), ~0U, CLOSE_RANGE_CLOEXEC);
			if (c->start_conn >= 0)
				fcntl(c->start_conn, F_SETFD, FD_CLOEXEC);
			signal(SIGPIPE, SIG_DFL);
			execve(c->exec_path[0] ? c->exec_path : argv[0], argv, envp);
			rc = -1;
			snprintf(msg, sizeof(msg), "exec %s: %s", argv[0], strerror(errno));
			break;
		default: /* a monitor step: plan_check keeps them before "child" */
			rc = -1, errno = EPROTO;
			snprintf(msg, sizeof(msg), "\"%s\" is not a step of the child", op);
			break;
		}
		if (rc)
			child_fail(c, i, op, errno, "%s", msg[0] ? msg : strerror(errno));
	}
	child_fail(c, c->plan.n, "end", EINVAL, "the plan ended without an exec step");
}
