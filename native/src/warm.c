/*
 * Keeps the kernel's cgroup attach lock warm while the runtime CLI's node boots.
 *
 * Writing a pid to cgroup.procs (placing the container's process: monitor.c) takes the
 * kernel's one global cgroup_threadgroup_rwsem for writing. When no writer has held it
 * recently, taking it first waits for an RCU grace period (rcu_sync_enter), 10-20 ms on our
 * 2-core machines: the largest single wait of a `gantry-runtime run` (runc pays it too). Once
 * a writer has been through, further writers pass at once until about one grace period after
 * the last one left.
 *
 * The launcher (native/launcher/gantry-runtime.c) forks this helper ~30 ms before node sends
 * the plan. With --warm-attach the helper spends that time moving itself into the cgroup it
 * is already in — a no-op move that takes the same lock — every few milliseconds, so the
 * grace period is over before the plan arrives and stays over until it does. Best effort:
 * without a cgroup it may write to, it simply waits for the plan.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How often to pass through the lock, and for how long at most (the plan comes in ~30 ms;
 * a CLI that never sends one, e.g. `exec --help`, closes the channel instead). */
#define WARM_INTERVAL_MS 4
#define WARM_LIMIT_MS 2000

/*
 * The cgroup.procs of the cgroup v2 group this process is in: its path from /proc/self/cgroup
 * ("0::/path") under the cgroup2 mount of /proc/self/mountinfo (hybrid hosts have one too, at
 * /sys/fs/cgroup/unified). The lock is global, so any hierarchy will do; v1-only hosts are
 * left out for simplicity.
 */
static int own_procs_file(char *out, size_t size)
{
	char own[PATH_MAX] = "", line[PATH_MAX * 2];
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			snprintf(own, sizeof(own), "%s", line + 3);
			own[strcspn(own, "\n")] = 0;
		}
	}
	fclose(f);
	if (own[0] != '/')
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	int found = -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mountpoint options [optional...] - fstype source ... */
		char root[PATH_MAX], point[PATH_MAX], fstype[64];
		const char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) != 2 || sscanf(sep + 3, "%63s", fstype) != 1)
			continue;
		/* mountinfo escapes spaces and such as \040: such a mount point is not ours to guess */
		if (strcmp(fstype, "cgroup2") || strcmp(root, "/") || strchr(point, '\\'))
			continue;
		snprintf(out, size, "%s%s/cgroup.procs", point, strcmp(own, "/") ? own : "");
		found = 0;
	}
	fclose(f);
	return found;
}

void warm_attach_until_readable(int fd)
{
	char file[PATH_MAX];
	if (own_procs_file(file, sizeof(file)) < 0)
		return;
	int procs = open(file, O_WRONLY | O_CLOEXEC);
	if (procs < 0)
		return;
	char pid[16];
	int len = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (int waited = 0; waited < WARM_LIMIT_MS; waited += WARM_INTERVAL_MS) {
		if (write(procs, pid, (size_t)len) != len)
			break; /* not allowed here (a delegated or foreign cgroup): just wait */
		int r = poll(&p, 1, WARM_INTERVAL_MS);
		if (r != 0 && !(r < 0 && errno == EINTR))
			break; /* the plan (or EOF) is there */
	}
	close(procs);
}
