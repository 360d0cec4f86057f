/*
 * Wire format shared with TypeScript (src/runtime/plan/wire.ts).
 *
 * A record is: u32 field count, then per field u32 length + bytes (little endian).
 * Field 0 is the operation name; the others are its arguments as text.
 * The plan is a sequence of records ending with "end". Reports (helper -> TypeScript)
 * and the monitor <-> child sync use the same framing; both are messages of the table in
 * scripts/gen-wire.mjs (plan-ops.h: enum wire_msg, one send_* per message), read with
 * msg_read(), which refuses unknown names, wrong field counts and malformed numbers.
 *
 *   TypeScript            monitor (M)                 [joiner J]        child (C)
 *   plan records  ----->  read plan
 *                         socketpair, start socket, console socket
 *                         clone(flags) or fork J --->  setns...; clone -> C
 *                         <---------------------------- "cpid N" (J exits)
 *                         write uid/gid maps, cgroup.procs, run runtime hooks
 *                         "go HOSTPID"  -------------------------------------> runs child steps
 *                         <------------------------------------------------ "ready STEP" | "error ..."
 *   "pid N DONE" | "error" <-  relay (DONE: steps executed; all of them after an exec's EOF)
 *                         detach: exit.  foreground: wait, report "exit", exit
 *   start: connect(start socket) -------------------------------------------> accept; hooks; execve
 *          <------------------------------------------------------------- EOF (exec ok) | "error ..."
 */
#ifndef GANTRY_WIRE_H
#define GANTRY_WIRE_H
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_FIELDS 4096
#define WIRE_MAX_FIELD (16u << 20)

struct record {
	int op;         /* a plan record's enum plan_op, set by plan_check(); -1 otherwise */
	uint32_t n;
	char **f;       /* NUL-terminated copies of each field */
	uint32_t *len;  /* lengths (fields may hold binary) */
};

/* Reads one record from fd. Returns 1 on a record, 0 on clean EOF, -1 on error (errno set). */
int wire_read(int fd, struct record *r);

/* Buffered reading, for a stream nothing else reads from afterwards (the plan): a plan has
 * hundreds of records, and two read(2)s per field cost the monitor milliseconds. */
struct wire_reader {
	int fd;
	size_t off, len;
	char buf[1 << 16];
};
int wire_read_buffered(struct wire_reader *rd, struct record *r);
void wire_free(struct record *r);
/* Writes one record with the given NUL-terminated fields in a single write. */
int wire_write(int fd, int n, const char *const *fields);
/* Messages are sent with the typed senders plan-ops.h generates (send_go, send_error, ...). */

static inline const char *field(const struct record *r, uint32_t i) { return i < r->n ? r->f[i] : ""; }
#endif
