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
	unsigned long long uid = plan_u64(r, USER_UID), gid = plan_u64(r, USER_GID);
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
	unsigned long long bnd = plan_u64(r, CAPS_BOUNDING), eff = plan_u64(r, CAPS_EFFECTIVE),
			   perm = plan_u64(r, CAPS_PERMITTED), inh = plan_u64(r, CAPS_INHERITABLE), amb = plan_u64(r, CAPS_AMBIENT);
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
	unsigned long long res = plan_u64(r, RLIMIT_RESOURCE), soft = plan_u64(r, RLIMIT_SOFT), hard = plan_u64(r, RLIMIT_HARD);
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
	const char *op = plan_ops[r->op].name;
	int rc = 0;
	if (r->op == OP_SECCOMP_INIT) {
		unsigned long long v = plan_u64(r, SECCOMP_INIT_DEFAULT_ACTION);
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
	switch ((enum plan_op)r->op) {
	case OP_SECCOMP_ARCH: {
		const char *name = field(r, SECCOMP_ARCH_ARCH);
		uint32_t arch = seccomp_arch_resolve_name(name);
		if (!arch) {
			snprintf(msg, msglen, "seccomp: unknown architecture %s", name);
			return errno = EINVAL, -1;
		}
		rc = seccomp_arch_add(filter, arch);
		if (rc == -EEXIST)
			rc = 0;
		if (rc)
			snprintf(msg, msglen, "seccomp: add architecture %s: %s", name, strerror(-rc));
		break;
	}
	case OP_SECCOMP_FLAG: {
		/* the filter flags of the OCI spec, as libseccomp's attributes */
		static const enum scmp_filter_attr attr_of[] = {
			[SECCOMP_FLAG_FLAG_SECCOMP_FILTER_FLAG_LOG] = SCMP_FLTATR_CTL_LOG,
			[SECCOMP_FLAG_FLAG_SECCOMP_FILTER_FLAG_SPEC_ALLOW] = SCMP_FLTATR_CTL_SSB,
			[SECCOMP_FLAG_FLAG_SECCOMP_FILTER_FLAG_TSYNC] = SCMP_FLTATR_CTL_TSYNC,
		};
		rc = seccomp_attr_set(filter, attr_of[plan_enum(r, SECCOMP_FLAG_FLAG)], 1);
		if (rc)
			snprintf(msg, msglen, "seccomp: flag %s: %s", field(r, SECCOMP_FLAG_FLAG), strerror(-rc));
		break;
	}
	case OP_SECCOMP_RULE: {
		unsigned long long action = plan_u64(r, SECCOMP_RULE_ACTION);
		const char *name = field(r, SECCOMP_RULE_SYSCALL);
		int nr = seccomp_syscall_resolve_name(name);
		if (nr == __NR_SCMP_ERROR)
			return 0; /* a syscall this kernel/libseccomp doesn't know: nothing to filter */
		/* conditions in groups of 4 (plan_check checked the count): index, operator, value, value two */
		struct scmp_arg_cmp args[6];
		unsigned n = 0;
		for (uint32_t k = SECCOMP_RULE_REST; k + 3 < r->n && n < 6; k += 4)
			args[n++] = (struct scmp_arg_cmp){.arg = (unsigned)plan_u64(r, k),
							  .op = (enum scmp_compare)plan_u64(r, k + 1),
							  .datum_a = plan_u64(r, k + 2),
							  .datum_b = plan_u64(r, k + 3)};
		rc = seccomp_rule_add_array(filter, (uint32_t)action, nr, n, args);
		if (rc)
			snprintf(msg, msglen, "seccomp: rule for %s (action 0x%llx, %u conditions): %s", name, action, n,
				 strerror(-rc));
		break;
	}
	case OP_SECCOMP_LOAD:
		rc = seccomp_load(filter);
		seccomp_release(filter);
		filter = NULL;
		if (rc)
			snprintf(msg, msglen, "seccomp_load: %s", strerror(-rc));
		break;
	default:
		snprintf(msg, msglen, "%s is not a seccomp step", op);
		rc = -EINVAL;
	}
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
