/* cgroup v2 device control: v2 has no devices.allow file; a BPF_PROG_TYPE_CGROUP_DEVICE
 * program decides instead. TypeScript generates the instructions from the OCI rules
 * (src/runtime/cgroups/devices/ebpf.ts); this only loads and attaches them. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* bpf-device-filter CGROUP_DIR HEX_INSTRUCTIONS LICENSE */
int attach_device_filter(const char *dir, const char *hex, const char *license, char *msg, size_t msglen)
{
	size_t n = strlen(hex) / 2;
	if (n == 0 || n % 8 != 0)
		return snprintf(msg, msglen, "device filter for %s: malformed instructions", dir), errno = EINVAL, -1;
	unsigned char *insns = malloc(n);
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(insns);
			return snprintf(msg, msglen, "device filter for %s: malformed instructions", dir), errno = EINVAL, -1;
		}
		insns[i] = (unsigned char)(hi << 4 | lo);
	}
	static char verifier_log[8192];
	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)insns;
	load.insn_cnt = (uint32_t)(n / 8);
	load.license = (uint64_t)(uintptr_t)license;
	load.log_buf = (uint64_t)(uintptr_t)verifier_log;
	load.log_size = sizeof(verifier_log);
	load.log_level = 1;
	int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
	int e = errno;
	free(insns);
	if (prog < 0) {
		snprintf(msg, msglen, "load the device filter (bpf BPF_PROG_LOAD): %s%s%.300s", strerror(e),
			 verifier_log[0] ? "; verifier: " : "", verifier_log);
		return errno = e, -1;
	}
	int cg = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		e = errno;
		close(prog);
		return snprintf(msg, msglen, "open cgroup %s: %s", dir, strerror(e)), errno = e, -1;
	}
	union bpf_attr at;
	memset(&at, 0, sizeof(at));
	at.target_fd = (uint32_t)cg;
	at.attach_bpf_fd = (uint32_t)prog;
	at.attach_type = BPF_CGROUP_DEVICE;
	at.attach_flags = BPF_F_ALLOW_MULTI;
	int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof(at));
	e = errno;
	close(cg);
	close(prog); /* the cgroup keeps the program attached */
	if (rc < 0)
		return snprintf(msg, msglen, "attach the device filter to %s (BPF_PROG_ATTACH): %s", dir, strerror(e)), errno = e, -1;
	return 0;
}
