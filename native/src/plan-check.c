/*
 * Checks a whole plan against the table of operations (plan-ops.h, generated from
 * scripts/gen-wire.mjs) before any step runs: every op known and in its section, the field
 * count right, every number a number that fits in 64 bits, every enumerated field one of its
 * values. A malformed plan (a bug, or a helper and a runtime from different versions) is
 * reported as one error naming the step, instead of a step running on a misread field.
 * Afterwards r->op holds each record's operation, for the dispatch in monitor.c and child.c,
 * and the numbers may be read with plan_u64() and enumerated fields with plan_enum() without
 * checking again. Messages between the helper's processes are checked the same way against
 * their own table (msg_read()).
 */
#include "helper.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

int plan_op_of(const char *name)
{
	for (int i = 0; i < PLAN_OP_COUNT; i++)
		if (!strcmp(plan_ops[i].name, name))
			return i;
	return PLAN_OP_UNKNOWN;
}

/* A u64 as TypeScript writes it: decimal without leading zeros, or 0x and lower-case hex.
 * (strtoull alone would take "010" for octal, " 1", "-1" and "1x" for something.) */
static bool valid_u64(const char *s, uint32_t len, const char **why)
{
	if (len == 0)
		return *why = "is empty", false;
	bool hex = len > 2 && s[0] == '0' && s[1] == 'x';
	const char *d = hex ? s + 2 : s;
	uint32_t n = hex ? len - 2 : len;
	if (!hex && n > 1 && d[0] == '0')
		return *why = "has a leading zero", false;
	unsigned long long v = 0;
	for (uint32_t i = 0; i < n; i++) {
		unsigned digit;
		if (d[i] >= '0' && d[i] <= '9')
			digit = (unsigned)(d[i] - '0');
		else if (hex && d[i] >= 'a' && d[i] <= 'f')
			digit = (unsigned)(d[i] - 'a' + 10);
		else
			return *why = "is not a number", false;
		unsigned base = hex ? 16 : 10;
		if (v > (~0ULL - digit) / base)
			return *why = "is out of range (more than 2^64-1)", false;
		v = v * base + digit;
	}
	return true;
}

static bool one_of(const char *s, const char *const *values)
{
	for (; *values; values++)
		if (!strcmp(s, *values))
			return true;
	return false;
}

static void list_fields(const struct plan_field *fields, unsigned nfields, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (unsigned i = 0; i < nfields && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", fields[i].name);
}

/* The fields of record r (named `name`) against their table entry: count, numbers, values. */
static int check_fields(const char *name, const struct plan_field *fields, unsigned nfields, char rest, unsigned group,
			const struct record *r, char *msg, size_t msglen)
{
	uint32_t given = r->n - 1;
	if (given < nfields || (!rest && given > nfields)) {
		char names[512];
		list_fields(fields, nfields, names, sizeof(names));
		return snprintf(msg, msglen, "\"%s\" takes %s%u field%s (%s), got %u", name, rest ? "at least " : "", nfields,
				nfields == 1 ? "" : "s", names, given),
		       -1;
	}
	if (rest && (given - nfields) % group)
		return snprintf(msg, msglen, "\"%s\" takes its trailing fields in groups of %u, got %u", name, group, given - nfields), -1;
	for (uint32_t i = 1; i < r->n; i++) {
		const struct plan_field *f = i <= nfields ? &fields[i - 1] : NULL;
		char type = f ? f->type : rest;
		const char *fname = f ? f->name : "trailing field", *why;
		if (type == 'u' && !valid_u64(r->f[i], r->len[i], &why))
			return snprintf(msg, msglen, "\"%s\" field %u (%s): \"%.32s\" %s", name, i, fname, r->f[i], why), -1;
		if (type == 'e' && !one_of(r->f[i], f->values)) {
			char allowed[256];
			size_t o = 0;
			allowed[0] = 0;
			for (const char *const *v = f->values; *v && o < sizeof(allowed); v++)
				o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s\"%s\"", v == f->values ? "" : ", ", *v);
			return snprintf(msg, msglen, "\"%s\" field %u (%s): \"%.32s\" is not one of %s", name, i, fname, r->f[i], allowed), -1;
		}
	}
	return 0;
}

static int check_record(struct record *r, bool in_child, char *msg, size_t msglen)
{
	const char *name = field(r, 0);
	int op = plan_op_of(name);
	if (op == PLAN_OP_UNKNOWN)
		return snprintf(msg, msglen, "unknown operation \"%.64s\" (helper and runtime versions differ? rebuild with make -C native)", name), -1;
	const struct plan_op_spec *spec = &plan_ops[op];
	if (spec->section == PLAN_SECTION_MONITOR && in_child)
		return snprintf(msg, msglen, "\"%s\" belongs before \"child\" (the monitor's section)", name), -1;
	if (spec->section == PLAN_SECTION_CHILD && !in_child)
		return snprintf(msg, msglen, "\"%s\" belongs after \"child\" (the child's section)", name), -1;
	if (check_fields(name, spec->fields, spec->nfields, spec->rest, spec->group, r, msg, msglen) < 0)
		return -1;
	r->op = op;
	return 0;
}

int plan_check(struct plan *p, size_t *bad_step, char *msg, size_t msglen)
{
	bool in_child = false, saw_child = false;
	for (size_t i = 0; i < p->n; i++) {
		if (check_record(&p->rec[i], in_child, msg, msglen) < 0) {
			*bad_step = i;
			return -1;
		}
		if (p->rec[i].op == OP_CHILD) {
			if (saw_child) {
				*bad_step = i;
				return snprintf(msg, msglen, "a second \"child\" marker"), -1;
			}
			in_child = saw_child = true;
		}
	}
	if (!saw_child) {
		*bad_step = p->n ? p->n - 1 : 0;
		return snprintf(msg, msglen, "the plan has no \"child\" marker"), -1;
	}
	return 0;
}

unsigned long long plan_u64(const struct record *r, uint32_t i)
{
	unsigned long long v = 0;
	parse_u64(field(r, i), &v); /* checked by plan_check: cannot fail */
	return v;
}

unsigned plan_enum(const struct record *r, uint32_t i)
{
	const char *const *values = plan_ops[r->op].fields[i - 1].values;
	unsigned k = 0;
	while (values[k] && strcmp(values[k], field(r, i)))
		k++;
	return k; /* checked by plan_check: always one of them */
}

int msg_read(int fd, struct record *r, char *msg, size_t msglen)
{
	int rc = wire_read(fd, r);
	if (rc != 1) {
		if (rc < 0)
			snprintf(msg, msglen, "read a message: %s", strerror(errno));
		return rc;
	}
	const char *name = field(r, 0);
	int m = WIRE_MSG_UNKNOWN;
	for (int i = 0; i < WIRE_MSG_COUNT && m == WIRE_MSG_UNKNOWN; i++)
		if (!strcmp(wire_msgs[i].name, name))
			m = i;
	if (m == WIRE_MSG_UNKNOWN)
		snprintf(msg, msglen, "unknown message \"%.64s\"", name);
	else if (check_fields(name, wire_msgs[m].fields, wire_msgs[m].nfields, 0, 1, r, msg, msglen) == 0) {
		r->op = m;
		return 1;
	}
	wire_free(r);
	return errno = EPROTO, -1;
}
