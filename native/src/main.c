/*
 * gantry-helper: executes a container plan built by TypeScript (src/runtime/plan/).
 * Usage: gantry-helper [--plan-fd N | --plan FILE] [--report-fd N] [--warm-attach]
 *        gantry-helper --spawner SOCKET   (forks a monitor per connection: spawner.c)
 * --warm-attach: until the plan arrives, keep the kernel's cgroup attach lock warm (warm.c).
 * Defaults: the plan is read from fd 3 and reports are written to fd 3 (Node's extra
 * 'pipe' stdio is a socketpair, so one fd carries both directions).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int run_monitor(int plan_fd, int report_fd);
int run_spawner(const char *path);
void warm_attach_until_readable(int fd);

int main(int argc, char **argv)
{
	int plan_fd = 3, report_fd = -1, warm = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--plan-fd") && i + 1 < argc) {
			plan_fd = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--plan") && i + 1 < argc) {
			plan_fd = open(argv[++i], O_RDONLY | O_CLOEXEC);
			if (plan_fd < 0) {
				perror(argv[i]);
				return 125;
			}
			if (report_fd < 0)
				report_fd = 2;
		} else if (!strcmp(argv[i], "--spawner") && i + 1 < argc && argc == 3) {
			return run_spawner(argv[++i]);
		} else if (!strcmp(argv[i], "--report-fd") && i + 1 < argc) {
			report_fd = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--warm-attach")) {
			warm = 1;
		} else {
			fprintf(stderr, "usage: gantry-helper [--plan-fd N | --plan FILE] [--report-fd N] [--warm-attach] | --spawner SOCKET\n");
			return 125;
		}
	}
	if (report_fd < 0)
		report_fd = plan_fd;
	if (warm)
		warm_attach_until_readable(plan_fd);
	return run_monitor(plan_fd, report_fd);
}
