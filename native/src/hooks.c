/* OCI hooks run by the helper: runtime-namespace hooks by the monitor, container-namespace
 * hooks by the child. The state JSON arrives from TypeScript with a pid placeholder. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PID_PLACEHOLDER "__GANTRY_PID__"

static char *substitute_pid(const char *tmpl, pid_t pid)
{
	char num[24];
	snprintf(num, sizeof(num), "%d", (int)pid);
	const char *at = strstr(tmpl, PID_PLACEHOLDER);
	if (!at)
		return strdup(tmpl);
	size_t pre = (size_t)(at - tmpl), nl = strlen(num), rest = strlen(at + strlen(PID_PLACEHOLDER));
	char *out = malloc(pre + nl + rest + 1);
	memcpy(out, tmpl, pre);
	memcpy(out + pre, num, nl);
	memcpy(out + pre + nl, at + strlen(PID_PLACEHOLDER), rest + 1);
	return out;
}

/* hook PHASE TIMEOUT STATE_JSON PATH ARGC ARGV... ENV... */
int run_hook(const struct record *r, pid_t host_pid, char *msg, size_t msglen)
{
	unsigned long long timeout = plan_u64(r, HOOK_TIMEOUT), argc = plan_u64(r, HOOK_ARGC);
	const char *path = field(r, HOOK_PATH);
	if (6 + argc > r->n)
		return snprintf(msg, msglen, "malformed hook step for %s", path), errno = EINVAL, -1;
	char **argv = calloc(argc + 2, sizeof(char *));
	char **envp = calloc(r->n, sizeof(char *));
	if (argc == 0)
		argv[0] = (char *)path;
	for (unsigned long long k = 0; k < argc; k++)
		argv[k] = r->f[6 + k];
	size_t ne = 0;
	for (uint32_t k = 6 + (uint32_t)argc; k < r->n; k++)
		envp[ne++] = r->f[k];
	char *state = substitute_pid(field(r, 3), host_pid);

	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return snprintf(msg, msglen, "hook %s: pipe: %s", path, strerror(errno)), -1;
	pid_t pid = fork();
	if (pid < 0)
		return snprintf(msg, msglen, "hook %s: fork: %s", path, strerror(errno)), -1;
	if (pid == 0) {
		dup2(in[0], 0);
		signal(SIGPIPE, SIG_DFL);
		execve(path, argv, envp);
		fprintf(stderr, "hook %s: exec: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	/* A hook that doesn't read stdin must not block us: ignore EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	if (write(in[1], state, strlen(state)) < 0) { /* ignored: the hook may not read it */ }
	close(in[1]);
	free(state);
	free(argv);
	free(envp);

	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0) {
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int rc;
		do
			rc = poll(&p, 1, timeout ? (int)(timeout * 1000) : -1);
		while (rc < 0 && errno == EINTR);
		close(pidfd);
		if (rc == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			snprintf(msg, msglen, "hook %s timed out after %llus", path, timeout);
			errno = ETIMEDOUT;
			return -1;
		}
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return snprintf(msg, msglen, "hook %s: wait: %s", path, strerror(errno)), -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		snprintf(msg, msglen, "hook %s exited with status %d", path, WEXITSTATUS(status));
	else
		snprintf(msg, msglen, "hook %s killed by signal %d", path, WTERMSIG(status));
	errno = ECANCELED;
	return -1;
}
