/* Process security steps: user and groups, capabilities, rlimits, seccomp. */
#include "helper.h"
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* user UID GID GROUPS(comma list) */
int op_user(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	unsigned long long uid = 0, gid = 0;
	parse_u64(field(r, 1), &uid);
	parse_u64(field(r, 2), &gid);
	gid_t groups[256];
	size_t ng = 0;
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", field(r, 3));
	for (char *save, *tok = strtok_r(buf, ",", &save); tok && ng < 256; tok = strtok_r(NULL, ",", &save)) {
		unsigned long long g;
		if (parse_u64(tok, &g))
			groups[ng++] = (gid_t)g;
	}
	/* Keep the permitted set across setuid; the caps step sets the final sets. */
	if (prctl(PR_SET_KEEPCAPS, 1) < 0) {
		snprintf(msg, msglen, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
		return -1;
	}
	if (setgroups(ng, groups) < 0 && !(errno == EPERM && ng == 0)) {
		snprintf(msg, msglen, "setgroups(%s): %s", field(r, 3), strerror(errno));
		return -1;
	}
	if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) {
		snprintf(msg, msglen, "setgid(%llu): %s (is the gid mapped in the user namespace?)", gid,
			 strerror(errno));
		return -1;
	}
	if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) {
		snprintf(msg, msglen, "setuid(%llu): %s (is the uid mapped in the user namespace?)", uid,
			 strerror(errno));
		return -1;
	}
	return 0;
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = 40;
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 40;
		fclose(f);
	}
	return n;
}

/* caps BOUNDING EFFECTIVE PERMITTED INHERITABLE AMBIENT (each a 64-bit mask) */
int op_caps(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	unsigned long long bnd = 0, eff = 0, perm = 0, inh = 0, amb = 0;
	parse_u64(field(r, 1), &bnd);
	parse_u64(field(r, 2), &eff);
	parse_u64(field(r, 3), &perm);
	parse_u64(field(r, 4), &inh);
	parse_u64(field(r, 5), &amb);
	int last = last_cap();
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	/* After the user step switched to a non-root uid, PR_SET_KEEPCAPS kept the permitted
	 * set but the kernel cleared the effective one; dropping from the bounding set needs
	 * CAP_SETPCAP in effect, so first raise effective to what is permitted. */
	struct __user_cap_data_struct cur[2];
	if (syscall(SYS_capget, &hdr, cur) < 0) {
		snprintf(msg, msglen, "capget: %s", strerror(errno));
		return -1;
	}
	cur[0].effective = cur[0].permitted;
	cur[1].effective = cur[1].permitted;
	if (syscall(SYS_capset, &hdr, cur) < 0) {
		snprintf(msg, msglen, "capset(effective = permitted 0x%llx): %s",
			 ((unsigned long long)cur[1].permitted << 32) | cur[0].permitted, strerror(errno));
		return -1;
	}
	for (int cap = 0; cap <= last; cap++) {
		if (bnd & (1ULL << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			snprintf(msg, msglen, "drop capability %d from the bounding set: %s", cap, strerror(errno));
			return -1;
		}
	}
	struct __user_cap_data_struct data[2] = {
	    {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
	    {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
	};
	if (syscall(SYS_capset, &hdr, data) < 0) {
		snprintf(msg, msglen, "capset(effective 0x%llx, permitted 0x%llx, inheritable 0x%llx): %s", eff, perm,
			 inh, strerror(errno));
		return -1;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int cap = 0; cap <= last; cap++) {
		if (!(amb & (1ULL << cap)))
			continue;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
			snprintf(msg, msglen, "raise ambient capability %d (it must be permitted and inheritable): %s", cap,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* rlimit RESOURCE SOFT HARD */
int op_rlimit(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	unsigned long long res = 0, soft = 0, hard = 0;
	parse_u64(field(r, 1), &res);
	parse_u64(field(r, 2), &soft);
	parse_u64(field(r, 3), &hard);
	struct rlimit lim = {.rlim_cur = soft, .rlim_max = hard};
	if (prlimit(0, (int)res, &lim, NULL) < 0) {
		snprintf(msg, msglen, "setrlimit(%llu, soft %llu, hard %llu): %s", res, soft, hard, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * seccomp-init DEFAULT_ACTION | seccomp-arch NAME | seccomp-flag NAME |
 * seccomp-rule ACTION SYSCALL [ARGINDEX OP VALUE VALUETWO]... | seccomp-load
 * Actions and comparison operators arrive as libseccomp's numeric values.
 */
static scmp_filter_ctx filter;

int seccomp_step(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	(void)c;
	const char *op = field(r, 0);
	unsigned long long v = 0;
	int rc = 0;
	if (!strcmp(op, "seccomp-init")) {
		parse_u64(field(r, 1), &v);
		filter = seccomp_init((uint32_t)v);
		if (!filter) {
			snprintf(msg, msglen, "seccomp_init(default action 0x%llx) failed", v);
			return errno = EINVAL, -1;
		}
		/* Don't let a filter break the exec itself when it denies no_new_privs. */
		seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0);
		return 0;
	}
	if (!filter) {
		snprintf(msg, msglen, "%s before seccomp-init", op);
		return errno = EINVAL, -1;
	}
	if (!strcmp(op, "seccomp-arch")) {
		uint32_t arch = seccomp_arch_resolve_name(field(r, 1));
		if (!arch) {
			snprintf(msg, msglen, "seccomp: unknown architecture %s", field(r, 1));
			return errno = EINVAL, -1;
		}
		rc = seccomp_arch_add(filter, arch);
		if (rc == -EEXIST)
			rc = 0;
		if (rc)
			snprintf(msg, msglen, "seccomp: add architecture %s: %s", field(r, 1), strerror(-rc));
	} else if (!strcmp(op, "seccomp-flag")) {
		const char *f = field(r, 1);
		if (!strcmp(f, "SECCOMP_FILTER_FLAG_LOG"))
			rc = seccomp_attr_set(filter, SCMP_FLTATR_CTL_LOG, 1);
		else if (!strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"))
			rc = seccomp_attr_set(filter, SCMP_FLTATR_CTL_SSB, 1);
		else if (!strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC"))
			rc = seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, 1);
		else
			rc = -EINVAL;
		if (rc)
			snprintf(msg, msglen, "seccomp: flag %s: %s", f, strerror(-rc));
	} else if (!strcmp(op, "seccomp-rule")) {
		unsigned long long action = 0;
		parse_u64(field(r, 1), &action);
		const char *name = field(r, 2);
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			return 0; /* a syscall this kernel/libseccomp doesn't know: nothing to filter */
		struct scmp_arg_cmp args[6];
		unsigned n = 0;
		for (uint32_t k = 3; k + 3 < r->n + 0u && n < 6; k += 4) {
			unsigned long long idx, cmp, a, b;
			parse_u64(field(r, k), &idx);
			parse_u64(field(r, k + 1), &cmp);
			parse_u64(field(r, k + 2), &a);
			parse_u64(field(r, k + 3), &b);
			args[n++] = (struct scmp_arg_cmp){.arg = (unsigned)idx, .op = (enum scmp_compare)cmp, .datum_a = a, .datum_b = b};
		}
		rc = seccomp_rule_add_array(filter, (uint32_t)action, nr, n, args);
		if (rc)
			snprintf(msg, msglen, "seccomp: rule for %s (action 0x%llx, %u conditions): %s", name, action, n,
				 strerror(-rc));
	} else if (!strcmp(op, "seccomp-load")) {
		rc = seccomp_load(filter);
		seccomp_release(filter);
		filter = NULL;
		if (rc)
			snprintf(msg, msglen, "seccomp_load: %s", strerror(-rc));
	} else {
		snprintf(msg, msglen, "unknown seccomp step %s", op);
		rc = -EINVAL;
	}
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
