/* Shared declarations of the gantry helper (one binary: monitor, joiner, child). */
#ifndef GANTRY_HELPER_H
#define GANTRY_HELPER_H
#include "plan-ops.h"
#include "wire.h"
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct plan {
	struct record *rec;
	size_t n;
	size_t child_start; /* index of the first child step (after the "child" marker) */
};

struct ctx {
	struct plan plan;
	int report_fd;     /* helper -> TypeScript reports */
	int plan_fd;       /* where the plan came from (closed in the child) */
	int sync_fd;       /* monitor <-> child (each holds its own end) */
	int start_listen;  /* listening start socket inherited by the child, or -1 */
	int start_conn;    /* accepted `start` connection in the child, or -1 */
	int console_fd;    /* connected --console-socket, or -1 */
	int pty_master;    /* in foreground terminal mode: master kept by the monitor */
	int rootfd;        /* O_PATH fd of the rootfs for in-root resolution, or -1 */
	char rootfs[PATH_MAX];
	pid_t host_pid;    /* the child's pid as the host sees it */
	char exec_path[PATH_MAX];
	int stdio_child[3]; /* monitor mode: pipe ends the child dups onto 0, 1, 2 (-1: keep) */
	bool parent_stays;  /* foreground and monitor modes: the monitor outlives the wait for start */
	int njoin;          /* join-cgroup: tasks files the monitor opened, which the child writes "0" to */
	int join_fd[16];
	size_t join_step[16];
};

/* Reports a failed step and exits the current process (child or joiner). */
_Noreturn void child_fail(struct ctx *c, size_t step, const char *op, int err, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* child.c: runs the child steps of the plan in order. Never returns. */
_Noreturn void run_child(struct ctx *c);

/* mounts.c */
int op_mount(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_mknod(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_bind_dev(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_symlink(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_pivot_root(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_mask(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_readonly(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_remount(struct ctx *c, const struct record *r, char *msg, size_t msglen);

/* idmap.c: the "idmapped-overlay" step (mounted on its target); 0, or -1 with errno and msg set. */
int idmapped_overlay(const struct record *r, char *msg, size_t msglen);

/* security.c */
int op_user(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_caps(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int op_rlimit(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int seccomp_step(struct ctx *c, const struct record *r, char *msg, size_t msglen);

/* hooks.c: runs a hook record; 0 on success, -1 with msg set. */
int run_hook(const struct record *r, pid_t host_pid, char *msg, size_t msglen);

/* console.c */
int make_pty(struct ctx *c, const struct record *r, char *msg, size_t msglen);
int send_fd(int sock, int fd);
int recv_fd(int sock);
void proxy_pty(int master, pid_t child);

/* serve.c: monitor mode's loop (logs, attach); returns the container's exit code. */
int serve_container(pid_t child, int out_fd, int err_fd, int stdin_fd, int pty, const char *log_path,
		    unsigned long long max_size, unsigned long long max_files, const char *attach_path,
		    const char *exit_file, void (*write_exit)(const char *, int));

/* unix.c: unix stream sockets bound or connected by path (mode 0600 for listeners). */
int listen_unix(const char *path, int extra_type_flags, int backlog);
int connect_unix(const char *path);

/* bpf.c */
int attach_device_filter(const char *dir, const char *hex, const char *license, char *msg, size_t msglen);

/* plan-check.c: checks every record against plan_ops and sets its op; on a malformed plan,
 * -1 with the step's index and a message. */
int plan_check(struct plan *p, size_t *bad_step, char *msg, size_t msglen);
/* a u64 field of a checked record (a plan step, or a message msg_read() returned) */
unsigned long long plan_u64(const struct record *r, uint32_t i);
/* which of its values an enumerated field of a checked plan step holds (plan-ops.h's enums) */
unsigned plan_enum(const struct record *r, uint32_t i);
/* the plan operation named `name`, or PLAN_OP_UNKNOWN */
int plan_op_of(const char *name);
/* Reads one message and checks it against wire_msgs (known, field count, numbers): 1 with
 * r->op its enum wire_msg, 0 at EOF, -1 on a read error or a malformed message (msg says). */
int msg_read(int fd, struct record *r, char *msg, size_t msglen);

/* io */
int write_file(const char *path, const char *data, size_t len);
bool parse_u64(const char *s, unsigned long long *out);
#endif
