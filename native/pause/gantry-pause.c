/*
 * gantry-pause: the process that holds a pod's sandbox — its network, IPC and UTS
 * namespaces, which the pod's containers join — for as long as the pod lives (what
 * Kubernetes' pause image runs). It does nothing: it sleeps, reaps children it inherits as
 * PID 1 of its PID namespace, and exits 0 on SIGTERM or SIGINT (the agent's stop).
 *
 * Linked statically: the node agent puts this one file alone in a one-layer image it makes
 * locally (src/cluster/agent/sandbox.ts), so there is no pause image to pull and no libc
 * to ship beside it.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = reap;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	for (;;)
		pause();
	return 0;
}
