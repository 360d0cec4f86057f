/*
 * gantry-runtime: the entry point of the runc-compatible CLI (bin/gantry-runtime links here).
 *
 * The CLI is TypeScript on node, and a container start needs the native helper beside it.
 * Forking node to start the helper is slow (a large process to copy, and node's
 * child_process module to load); forking here, before node exists, is nearly free and lets
 * the helper load while node boots. So this program only:
 *   1. for the verbs that start a process (create, run, exec: any argument spelled so; a
 *      false match only costs an idle helper), makes a socketpair and forks
 *      `gantry-helper --plan-fd N` on one end (own session, as node would start it), which
 *      waits for a plan (EOF: nothing to do, it exits), meanwhile keeping the kernel's
 *      cgroup attach lock warm for the container's placement (native/src/warm.c);
 *   2. execs `node bin/gantry-runtime.cjs ARGS...` with the other end's number and the
 *      helper's pid in GANTRY_HELPER_FD / GANTRY_HELPER_PID (src/runtime/helper.ts).
 * No policy lives here. If the fork fails, node simply starts the helper itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Above the fds a caller may pass through to a container (--preserve-fds). */
#define CHANNEL_MIN_FD 100

int main(int argc, char **argv)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("gantry-runtime: /proc/self/exe");
		return 127;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/'); /* .../native/build/gantry-runtime */
	if (!slash)
		return 127;
	*slash = 0;
	char helper[PATH_MAX], script[PATH_MAX];
	snprintf(helper, sizeof(helper), "%s/gantry-helper", self);
	snprintf(script, sizeof(script), "%s/../../bin/gantry-runtime.cjs", self);
	if (access(script, R_OK) < 0) {
		fprintf(stderr, "gantry-runtime: %s: %s (run the repository's bin/gantry-runtime, or a symlink to it)\n", script, strerror(errno));
		return 127;
	}

	int starts = 0;
	for (int i = 1; i < argc; i++)
		starts |= !strcmp(argv[i], "create") || !strcmp(argv[i], "run") || !strcmp(argv[i], "exec");
	int sv[2];
	if (starts && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			setsid();
			int fd = fcntl(sv[1], F_DUPFD, CHANNEL_MIN_FD); /* F_DUPFD: not close-on-exec */
			char num[16];
			snprintf(num, sizeof(num), "%d", fd);
			execl(helper, "gantry-helper", "--plan-fd", num, "--warm-attach", (char *)NULL);
			_exit(127);
		}
		close(sv[1]);
		if (pid > 0) {
			int fd = fcntl(sv[0], F_DUPFD, CHANNEL_MIN_FD);
			close(sv[0]);
			char num[16], pidnum[16];
			snprintf(num, sizeof(num), "%d", fd);
			snprintf(pidnum, sizeof(pidnum), "%d", (int)pid);
			setenv("GANTRY_HELPER_FD", num, 1);
			setenv("GANTRY_HELPER_PID", pidnum, 1);
		} else {
			close(sv[0]);
		}
	}
	/* node reads and parses every certificate of NODE_EXTRA_CA_CERTS as it starts (38 ms for
	 * Debian's CA bundle on our 2-core machines: more than the rest of node's boot), and
	 * the runtime CLI never opens a TLS connection. Hooks and containers get the
	 * environment their config gives them, not this one. */
	unsetenv("NODE_EXTRA_CA_CERTS");
	char **args = calloc((size_t)argc + 2, sizeof(char *));
	if (!args)
		return 127;
	args[0] = "node";
	args[1] = script;
	for (int i = 1; i < argc; i++)
		args[i + 1] = argv[i];
	const char *node = getenv("GANTRY_NODE");
	if (node && *node)
		execv(node, args);
	else
		execvp("node", args);
	fprintf(stderr, "gantry-runtime: cannot run node: %s\n", strerror(errno));
	return 127;
}
