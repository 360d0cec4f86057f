/*
 * --spawner SOCKET: a small long-lived process that forks monitors for a large caller.
 *
 * An engine is a Node process with a large heap; forking it for every container copies its
 * page tables and leaves it copy-on-write faults to pay afterwards. Instead the engine starts
 * this once, then for each container connects to SOCKET and talks to a fresh monitor over
 * that connection exactly as over a spawned helper's socketpair: the forked child first
 * reports ["monitor-pid", PID], then runs the plan the caller sends.
 *
 * It ends when its parent does (PR_SET_PDEATHSIG); monitors already forked carry on.
 */
#include "helper.h"
#include "wire.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int run_monitor(int plan_fd, int report_fd);

int run_spawner(const char *path)
{
	prctl(PR_SET_NAME, "gantry:spawner");
	/* The parent may have died before PDEATHSIG was armed: then ours is not the pid it gave. */
	const char *parent = getenv("GANTRY_SPAWNER_PARENT");
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || (parent && getppid() != (pid_t)atoi(parent))) {
		fprintf(stderr, "gantry-helper --spawner: the process that started it is gone\n");
		return 1;
	}
	int l = listen_unix(path, 0, 128);
	if (l < 0) {
		fprintf(stderr, "gantry-helper --spawner: listen on %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* Monitors are our children until they exit: let the kernel reap them. */
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			fprintf(stderr, "gantry-helper --spawner: accept: %s\n", strerror(errno));
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(l);
			/* A monitor waits for its own children and outlives us. */
			signal(SIGCHLD, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, 0);
			setsid();
			char num[24];
			snprintf(num, sizeof(num), "%d", (int)getpid());
			if (send_monitor_pid(c, num) < 0)
				_exit(1);
			_exit(run_monitor(c, c));
		}
		if (pid < 0) {
			char es[24];
			int e = errno;
			snprintf(es, sizeof(es), "%d", e);
			send_error(c, "-1", "fork", es, "the spawner could not fork a monitor");
		}
		close(c);
	}
}
