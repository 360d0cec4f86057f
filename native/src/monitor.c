/*
 * The monitor: reads the plan, creates the container child (directly with clone(), or
 * through a joiner that first setns()es into existing namespaces), places it in its cgroups
 * (clone3 into the v2 group; the child moves itself into each v1 hierarchy: neither takes the
 * kernel's global cgroup attach lock), writes uid/gid maps from outside, runs runtime-namespace hooks, lets
 * the child go, and relays its result to TypeScript. In "detach" mode it exits once the
 * child waits for `start` (the child is then adopted by the caller's subreaper, as with
 * runc); in "foreground" mode it stays, reaps the child and reports its exit status.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report_fd = -1;

/* exit-file's "sync": fsync the exit file before its rename (else only a power loss could
 * lose it: a container the engine removes at its exit). */
static bool exit_file_fsync = true;

/* A "host-mount" with unmount-on-exit: the monitor (only it, not a forked joiner) takes the
 * mount away again when the container has exited or its setup failed. */
static const char *host_mount_target;
static pid_t host_mount_owner;

static void undo_host_mount(void)
{
	if (host_mount_target && getpid() == host_mount_owner)
		umount2(host_mount_target, MNT_DETACH);
	host_mount_target = NULL;
}

static void report_error(const char *step, const char *op, int err, const char *msg)
{
	char e[24];
	snprintf(e, sizeof(e), "%d", err);
	undo_host_mount();
	send_error(report_fd, step, op, e, msg);
}

/* ["host-mount", source, target, fstype, flags, data, cwd, "unmount-on-exit"|""]: a mount in
 * the caller's namespace before the container's exists (the engine's overlay rootfs). cwd
 * lets long overlay option strings use relative paths (mount data is limited to a page). */
static int host_mount(const struct record *r)
{
	unsigned long long flags = plan_u64(r, HOST_MOUNT_FLAGS);
	int saved = -1;
	if (*field(r, 6)) {
		saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (saved < 0 || chdir(field(r, 6)) < 0)
			return -1;
	}
	const char *src = field(r, 1), *fstype = field(r, 3), *data = field(r, 5);
	int rc = mount(src, field(r, 2), *fstype ? fstype : NULL, (unsigned long)flags, *data ? data : NULL);
	int e = errno;
	if (saved >= 0) {
		if (fchdir(saved) < 0)
			e = rc < 0 ? e : errno, rc = -1;
		close(saved);
	}
	if (rc == 0 && plan_enum(r, HOST_MOUNT_UNMOUNT) == HOST_MOUNT_UNMOUNT_UNMOUNT_ON_EXIT) {
		host_mount_target = field(r, 2);
		host_mount_owner = getpid();
	}
	errno = e;
	return rc;
}

static _Noreturn void monitor_fail(const char *op, int err, const char *fmt, const char *arg)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), fmt, arg, strerror(err));
	report_error("-1", op, err, msg);
	_exit(1);
}

static int read_plan(int fd, struct plan *p)
{
	/* Nothing reads the plan fd after "end" (TypeScript sends nothing more), so reading ahead is safe. */
	static struct wire_reader rd;
	rd.fd = fd;
	rd.off = rd.len = 0;
	size_t cap = 64;
	p->rec = calloc(cap, sizeof(struct record));
	p->n = 0;
	p->child_start = 0;
	for (;;) {
		if (p->n == cap) {
			cap *= 2;
			p->rec = realloc(p->rec, cap * sizeof(struct record));
		}
		int rc = wire_read_buffered(&rd, &p->rec[p->n]);
		if (rc <= 0)
			return rc == 0 ? (errno = EPROTO, -1) : -1;
		int op = plan_op_of(field(&p->rec[p->n], 0)); /* each record is checked once the plan is whole */
		p->n++;
		if (op == OP_CHILD)
			p->child_start = p->n;
		if (op == OP_END)
			return 0;
	}
}

/* Replaces every "$PID" in s with pid (uid_map paths, cgroup.procs contents). */
static void subst_pid(const char *s, pid_t pid, char *out, size_t outlen)
{
	char num[24];
	snprintf(num, sizeof(num), "%d", (int)pid);
	size_t o = 0;
	for (const char *p = s; *p && o + 1 < outlen;) {
		if (!strncmp(p, "$PID", 4)) {
			for (const char *q = num; *q && o + 1 < outlen; q++)
				out[o++] = *q;
			p += 4;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = 0;
}

static void write_exit_file(const char *path, int status)
{
	/* The rootfs goes first: whoever reads the exit file may remove the container. */
	undo_host_mount();
	if (!path || !*path)
		return;
	char tmp[PATH_MAX], buf[256];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	int n = snprintf(buf, sizeof(buf), "{\"exitCode\":%d,\"signal\":%d,\"finishedAtMs\":%lld}\n", code, sig,
			 (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) == n && (!exit_file_fsync || fsync(fd) == 0))
		rename(tmp, path);
	close(fd);
}

/* Waits for `pid`, reaping any other orphan (we are a subreaper) on the way. */
static int reap(pid_t pid)
{
	int status = 0;
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);
		if (w == pid)
			return status;
		if (w < 0 && errno != EINTR)
			return status;
	}
}

/* joiner: setns into every listed namespace (user first, mount last: TypeScript orders
 * them), then clone the child so that a joined pid namespace applies to it. */
/* clone3 with CLONE_INTO_CGROUP (fork-like: no stack) into the cgroup v2 directory fd; -1 when
 * there is none or the kernel cannot (the caller clones the old way and places the process
 * from outside), -2 when the clone itself failed (errno set). */
static pid_t clone_into_cgroup(int cgroup_fd, unsigned long long flags, bool *into)
{
	*into = false;
	if (cgroup_fd < 0)
		return -1;
	/* struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid,
	 * parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup */
	unsigned long long args[11] = {0};
	args[0] = flags | 0x200000000ULL; /* CLONE_INTO_CGROUP */
	args[4] = SIGCHLD;
	args[10] = (unsigned long long)cgroup_fd;
	pid_t pid = (pid_t)syscall(435 /* SYS_clone3 */, args, sizeof(args));
	if (pid >= 0)
		*into = true;
	else if (errno == ENOSYS || errno == E2BIG || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM)
		pid = -1;
	else
		pid = -2;
	return pid;
}

static _Noreturn void run_joiner(struct ctx *c, int nfds, int *nsfd, int *nstype, const char **nspath,
				 unsigned long flags)
{
	prctl(PR_SET_NAME, "gantry:join");
	if (c->report_fd > 2)
		close(c->report_fd);
	if (c->plan_fd > 2 && c->plan_fd != c->report_fd)
		close(c->plan_fd);
	/* Into the v1 hierarchies by itself, before any setns (join-cgroup): the child it clones
	 * is born there. */
	for (int i = 0; i < c->njoin; i++) {
		if (write(c->join_fd[i], "0", 1) < 0) {
			int e = errno;
			char msg[1024], step[24], es[24];
			snprintf(msg, sizeof(msg), "write \"0\" to %s: %s", field(&c->plan.rec[c->join_step[i]], JOIN_CGROUP_PATH), strerror(e));
			snprintf(step, sizeof(step), "%zu", c->join_step[i]);
			snprintf(es, sizeof(es), "%d", e);
			send_error(c->sync_fd, step, "join-cgroup", es, msg);
			_exit(1);
		}
		close(c->join_fd[i]);
	}
	c->njoin = 0;
	for (int i = 0; i < nfds; i++) {
		if (setns(nsfd[i], nstype[i]) < 0) {
			int e = errno;
			char msg[1024];
			snprintf(msg, sizeof(msg), "setns into %s: %s", nspath[i], strerror(e));
			char step[24], es[24];
			snprintf(step, sizeof(step), "%d", -1);
			snprintf(es, sizeof(es), "%d", e);
			send_error(c->sync_fd, step, "setns", es, msg);
			_exit(1);
		}
		close(nsfd[i]);
	}
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		char msg[256], es[24];
		snprintf(msg, sizeof(msg), "clone(0x%lx): %s", flags, strerror(errno));
		snprintf(es, sizeof(es), "%d", errno);
		send_error(c->sync_fd, "-1", "clone", es, msg);
		_exit(1);
	}
	if (pid == 0)
		run_child(c);
	char num[24];
	snprintf(num, sizeof(num), "%d", (int)pid);
	send_cpid(c->sync_fd, num);
	_exit(0);
}

/* A write from outside once the child exists (maps, cgroup placement); a failure kills the
 * child and is reported as that plan step's. */
static void write_or_fail(pid_t child, size_t step, const char *op, const char *path, const char *data)
{
	if (write_file(path, data, strlen(data)) == 0)
		return;
	int e = errno;
	char msg[1024], stepbuf[24];
	kill(child, SIGKILL);
	snprintf(msg, sizeof(msg), "write \"%s\" to %s: %s", data, path, strerror(e));
	snprintf(stepbuf, sizeof(stepbuf), "%zu", step);
	report_error(stepbuf, op, e, msg);
	reap(child);
	_exit(1);
}

int run_monitor(int plan_fd, int rep_fd)
{
	struct ctx c = {.report_fd = rep_fd, .plan_fd = plan_fd, .sync_fd = -1, .start_listen = -1, .start_conn = -1, .console_fd = -1,
			.pty_master = -1, .rootfd = -1, .stdio_child = {-1, -1, -1}};
	report_fd = rep_fd;
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "gantry:monitor");
	if (read_plan(plan_fd, &c.plan) < 0)
		monitor_fail("read-plan", errno, "reading the plan%s: %s", "");
	size_t bad_step;
	char bad_msg[1024];
	if (plan_check(&c.plan, &bad_step, bad_msg, sizeof(bad_msg)) < 0) {
		/* EPROTO: the plan itself is wrong (TypeScript's bug or another version's helper) */
		char step[24];
		snprintf(step, sizeof(step), "%zu", bad_step);
		report_error(step, field(&c.plan.rec[bad_step], 0), EPROTO, bad_msg);
		_exit(1);
	}

	const char *exit_file = NULL, *log_path = NULL, *attach_path = NULL;
	unsigned mode = MODE_MODE_DETACH;
	bool pipes = false; /* the stdio step: pipes the monitor owns (else the caller's stdio) */
	unsigned long long log_max = 0, log_files = 1;
	bool open_stdin = false;
	unsigned long long clone_flags = 0;
	bool has_clone = false; /* a plan without "clone" only mounts (runtime/host-mount.ts) */
	int nns = 0, nsfd[16], nstype[16];
	const char *nspath[16];
	int cgroup_dir_fd = -1; /* clone-into-cgroup: the cgroup v2 directory the child starts in */
	const char *cgroup_dir = NULL;
	size_t cgroup_dir_step = 0;
	for (size_t i = 0; i < c.plan.child_start && i < c.plan.n; i++) {
		const struct record *r = &c.plan.rec[i];
		switch ((enum plan_op)r->op) {
		case OP_MODE:
			mode = plan_enum(r, MODE_MODE);
			break;
		case OP_EXIT_FILE:
			exit_file = field(r, EXIT_FILE_PATH);
			exit_file_fsync = plan_enum(r, EXIT_FILE_SYNC) == EXIT_FILE_SYNC_FSYNC;
			break;
		case OP_LOG:
			log_path = field(r, LOG_PATH);
			log_max = plan_u64(r, LOG_MAX_SIZE);
			log_files = plan_u64(r, LOG_MAX_FILES);
			break;
		case OP_ATTACH_SOCKET:
			attach_path = field(r, ATTACH_SOCKET_PATH);
			break;
		case OP_STDIO:
			pipes = plan_enum(r, STDIO_KIND) == STDIO_KIND_PIPES;
			open_stdin = plan_enum(r, STDIO_STDIN) == STDIO_STDIN_OPEN;
			break;
		case OP_CLONE:
			clone_flags = plan_u64(r, CLONE_FLAGS);
			has_clone = true;
			break;
		case OP_CLONE_INTO_CGROUP:
			cgroup_dir = field(r, CLONE_INTO_CGROUP_DIR);
			cgroup_dir_step = i;
			cgroup_dir_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (cgroup_dir_fd < 0)
				monitor_fail("clone-into-cgroup", errno, "open cgroup %s: %s", cgroup_dir);
			break;
		case OP_JOIN_CGROUP:
			if (c.njoin == 16)
				monitor_fail("join-cgroup", E2BIG, "too many cgroups to join%s: %s", "");
			c.join_step[c.njoin] = i;
			c.join_fd[c.njoin] = open(field(r, JOIN_CGROUP_PATH), O_WRONLY | O_CLOEXEC);
			if (c.join_fd[c.njoin] < 0)
				monitor_fail("join-cgroup", errno, "open %s: %s", field(r, JOIN_CGROUP_PATH));
			c.njoin++;
			break;
		case OP_BPF_DEVICE_FILTER: {
			char msg[1024];
			if (attach_device_filter(field(r, 1), field(r, 2), field(r, 3), msg, sizeof(msg)) < 0) {
				char step[24], es[24];
				snprintf(step, sizeof(step), "%zu", i);
				snprintf(es, sizeof(es), "%d", errno);
				send_error(report_fd, step, "bpf-device-filter", es, msg);
				_exit(1);
			}
			break;
		}
		case OP_HOST_MOUNT:
			if (host_mount(r) < 0) {
				char msg[1024], step[24], es[24];
				int e = errno;
				snprintf(msg, sizeof(msg), "mount %s on %s: %s", field(r, 3), field(r, 2), strerror(e));
				snprintf(step, sizeof(step), "%zu", i);
				snprintf(es, sizeof(es), "%d", e);
				report_error(step, "host-mount", e, msg);
				_exit(1);
			}
			break;
		case OP_IDMAPPED_OVERLAY: {
			char msg[1024], step[24];
			if (idmapped_overlay(r, msg, sizeof(msg)) < 0) {
				int e = errno;
				snprintf(step, sizeof(step), "%zu", i);
				report_error(step, "idmapped-overlay", e, msg);
				_exit(1);
			}
			if (plan_enum(r, IDMAPPED_OVERLAY_UNMOUNT) == IDMAPPED_OVERLAY_UNMOUNT_UNMOUNT_ON_EXIT) {
				host_mount_target = field(r, IDMAPPED_OVERLAY_TARGET);
				host_mount_owner = getpid();
			}
			break;
		}
		case OP_START_SOCKET:
			c.start_listen = listen_unix(field(r, 1), 0, 4);
			if (c.start_listen < 0)
				monitor_fail("start-socket", errno, "listen on start socket %s: %s", field(r, 1));
			break;
		case OP_CONSOLE_SOCKET:
			c.console_fd = connect_unix(field(r, 1));
			if (c.console_fd < 0)
				monitor_fail("console-socket", errno, "connect to console socket %s: %s", field(r, 1));
			break;
		case OP_SETNS:
			if (nns == 16)
				monitor_fail("setns", E2BIG, "too many namespaces to join%s: %s", "");
			nspath[nns] = field(r, SETNS_PATH);
			nstype[nns] = (int)plan_u64(r, SETNS_FLAGS);
			nsfd[nns] = open(field(r, SETNS_PATH), O_RDONLY | O_CLOEXEC);
			if (nsfd[nns] < 0)
				monitor_fail("setns", errno, "open namespace %s: %s", field(r, 1));
			nns++;
			break;
		default: /* write-after-clone and runtime hooks: after the clone, below */
			break;
		}
	}
	if (!has_clone) {
		/* Mounts only (the engine's own mount of a container's rootfs): they stay; no report
		 * but an error's, and the exit status says the rest. */
		host_mount_target = NULL;
		_exit(0);
	}
	bool foreground = mode == MODE_MODE_FOREGROUND;
	bool monitor = mode == MODE_MODE_MONITOR;
	int parent_end[3] = {-1, -1, -1};
	if (pipes) {
		/* fd 0: the child reads [0], we write [1]; fds 1, 2: the child writes [1], we read [0] */
		for (int fd = 0; fd < 3; fd++) {
			int p[2];
			if (fd == 0 && !open_stdin) {
				c.stdio_child[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
				continue;
			}
			if (pipe2(p, O_CLOEXEC) < 0)
				monitor_fail("stdio", errno, "pipe for container stdio%s: %s", "");
			c.stdio_child[fd] = fd == 0 ? p[0] : p[1];
			parent_end[fd] = fd == 0 ? p[1] : p[0];
		}
	}
	c.parent_stays = foreground || monitor;
	if (foreground || monitor || nns > 0)
		prctl(PR_SET_CHILD_SUBREAPER, 1); /* the joiner's child must come back to us */

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		monitor_fail("socketpair", errno, "socketpair%s: %s", "");

	pid_t child;
	bool into_cgroup = false; /* the clone put the child (or its joiner) in cgroup_dir */
	if (nns > 0) {
		/* The joiner is created in the v2 group and moves itself into each v1 hierarchy
		 * before it joins the namespaces: the child it clones is born in every cgroup (as
		 * runc's init stages run inside the container's cgroups). */
		pid_t j = clone_into_cgroup(cgroup_dir_fd, 0, &into_cgroup);
		if (j == -1)
			j = fork();
		if (j < 0)
			monitor_fail("fork", errno, "fork joiner%s: %s", "");
		if (j == 0) {
			close(sv[0]);
			c.sync_fd = sv[1];
			run_joiner(&c, nns, nsfd, nstype, nspath, (unsigned long)clone_flags);
		}
		close(sv[1]);
		for (int i = 0; i < nns; i++)
			close(nsfd[i]);
		for (int i = 0; i < c.njoin; i++)
			close(c.join_fd[i]);
		c.njoin = 0; /* done by the joiner before its "cpid" */
		struct record r;
		char why[256];
		int rc = msg_read(sv[0], &r, why, sizeof(why));
		int st;
		waitpid(j, &st, 0);
		if (rc == 0)
			monitor_fail("setns", EPROTO, "the namespace joiner died without a word%s: %s", "");
		if (rc < 0)
			monitor_fail("setns", EPROTO, "the namespace joiner's answer: %s (%s)", why);
		if (r.op == MSG_ERROR) {
			report_error(field(&r, MSG_ERROR_STEP), field(&r, MSG_ERROR_OP), (int)plan_u64(&r, MSG_ERROR_ERRNO),
				     field(&r, MSG_ERROR_MESSAGE));
			_exit(1);
		}
		if (r.op != MSG_CPID)
			monitor_fail("setns", EPROTO, "the namespace joiner sent \"%s\" (%s)", field(&r, 0));
		child = (pid_t)plan_u64(&r, MSG_CPID_PID);
		wire_free(&r);
	} else {
		child = clone_into_cgroup(cgroup_dir_fd, clone_flags, &into_cgroup);
		if (child == -1)
			child = (pid_t)syscall(SYS_clone, (unsigned long)clone_flags | SIGCHLD, 0, 0, 0, 0);
		if (child < 0) {
			char f[32];
			snprintf(f, sizeof(f), "0x%llx", clone_flags);
			monitor_fail("clone", errno, "clone with flags %s: %s (does the kernel support every requested namespace?)", f);
		}
		if (child == 0) {
			close(sv[0]);
			c.sync_fd = sv[1];
			run_child(&c);
		}
		close(sv[1]);
	}
	if (c.start_listen >= 0)
		close(c.start_listen);
	if (c.console_fd >= 0)
		close(c.console_fd);
	for (int fd = 0; fd < 3; fd++)
		if (c.stdio_child[fd] >= 0)
			close(c.stdio_child[fd]);

	/* cgroups: the child went into its v2 group at the clone, and moves itself into its v1
	 * hierarchies (join-cgroup) while the monitor goes on; what it could not do is done from
	 * outside, with the pid (the kernel's global attach lock: the slow way). */
	char path[PATH_MAX], data[65536], msg[1024];
	char num[24];
	snprintf(num, sizeof(num), "%d", (int)child);
	if (cgroup_dir_fd >= 0)
		close(cgroup_dir_fd);
	for (int i = 0; i < c.njoin; i++)
		close(c.join_fd[i]);
	if (cgroup_dir && !into_cgroup) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
		write_or_fail(child, cgroup_dir_step, "clone-into-cgroup", path, num);
	}
	if (c.njoin > 0) {
		struct record r;
		char why[256];
		int rc = msg_read(sv[0], &r, why, sizeof(why));
		if (rc <= 0) {
			kill(child, SIGKILL);
			reap(child);
			monitor_fail("join-cgroup", EPROTO, "the child died before it was in its cgroups%s: %s", rc < 0 ? why : "");
		}
		if (r.op == MSG_ERROR) {
			report_error(field(&r, MSG_ERROR_STEP), field(&r, MSG_ERROR_OP), (int)plan_u64(&r, MSG_ERROR_ERRNO), field(&r, MSG_ERROR_MESSAGE));
			reap(child);
			_exit(1);
		}
		if (r.op != MSG_PLACED) {
			kill(child, SIGKILL);
			reap(child);
			monitor_fail("join-cgroup", EPROTO, "the child sent \"%s\" instead of \"placed\" (%s)", field(&r, 0));
		}
		wire_free(&r);
	}

	/* From outside: maps, runtime hooks — then let the child go. */
	for (size_t i = 0; i < c.plan.child_start && i < c.plan.n; i++) {
		const struct record *r = &c.plan.rec[i];
		if (r->op == OP_WRITE_AFTER_CLONE) {
			subst_pid(field(r, WRITE_AFTER_CLONE_PATH), child, path, sizeof(path));
			subst_pid(field(r, WRITE_AFTER_CLONE_DATA), child, data, sizeof(data));
			write_or_fail(child, i, "write-after-clone", path, data);
		} else if (r->op == OP_HOOK) {
			if (run_hook(r, child, msg, sizeof(msg)) < 0) {
				int e = errno;
				kill(child, SIGKILL);
				char step[24];
				snprintf(step, sizeof(step), "%zu", i);
				report_error(step, "hook", e, msg);
				reap(child);
				_exit(1);
			}
		}
	}
	send_go(sv[0], num);

	/* The child answers "ready" (waiting for start), "error", "pty" (+fd), or closes the
	 * socket by exec'ing (exec without a start step). `done` counts the plan steps executed
	 * so far, reported with the pid for `explain`: up to the one waiting for start, or all. */
	char done[24];
	snprintf(done, sizeof(done), "%zu", c.plan.n);
	for (;;) {
		struct record r;
		char why[256];
		int rc = msg_read(sv[0], &r, why, sizeof(why));
		if (rc == 1 && r.op == MSG_PTY) {
			c.pty_master = recv_fd(sv[0]);
			wire_free(&r);
			continue;
		}
		if (rc == 1 && r.op == MSG_ERROR) {
			report_error(field(&r, MSG_ERROR_STEP), field(&r, MSG_ERROR_OP), (int)plan_u64(&r, MSG_ERROR_ERRNO),
				     field(&r, MSG_ERROR_MESSAGE));
			reap(child);
			_exit(1);
		}
		if (rc < 0 && errno == EPROTO) {
			kill(child, SIGKILL);
			reap(child);
			monitor_fail("sync", EPROTO, "the child's answer: %s (%s)", why);
		}
		if (rc == 1 && r.op == MSG_READY)
			snprintf(done, sizeof(done), "%s", field(&r, MSG_READY_STEP));
		if (rc == 1)
			wire_free(&r);
		break; /* "ready" or EOF */
	}
	send_pid(report_fd, num, done);
	if (monitor) {
		/* From here on nothing talks to TypeScript: the engine may be gone at any time. */
		close(report_fd);
		if (plan_fd != report_fd)
			close(plan_fd);
		close(sv[0]);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		for (int fd = 0; fd < 3 && null >= 0; fd++)
			dup2(null, fd);
		return serve_container(child, parent_end[1], parent_end[2], parent_end[0], c.pty_master, log_path, log_max,
				       log_files, attach_path, exit_file, write_exit_file);
	}
	if (!foreground)
		_exit(0);

	/* foreground: stay with the child until it exits */
	if (c.pty_master >= 0)
		proxy_pty(c.pty_master, child);
	close(sv[0]);
	int status = reap(child);
	write_exit_file(exit_file, status);
	char code[24], sig[24];
	snprintf(code, sizeof(code), "%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	snprintf(sig, sizeof(sig), "%d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	send_exit(report_fd, code, sig);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
