/*
 * Monitor mode (the engine's conmon): after the container is created the monitor stays
 * as its parent. It owns the container's stdout/stderr pipes (or the pty master), writes
 * them to a Docker json-file log with size-based rotation, serves an attach socket, and
 * when the container exits writes the exit file and leaves. The engine can die and come
 * back at any time: everything it needs is in the log, the exit file and this socket.
 *
 * Attach protocol, both directions framed like Docker's multiplexed streams:
 * [type u8][0 0 0][length u32 big-endian][payload]. Monitor -> client: 1 stdout,
 * 2 stderr (a TTY is all 1). Client -> monitor: 0 stdin bytes, 3 control
 * ("resize ROWS COLS" or "close-stdin").
 *
 * The guarantee: every byte the program writes before it exits reaches every client that
 * connected before it was written (the engine connects before `start`). So every waiting
 * connection is accepted before output is read, output a client's socket cannot take yet is
 * kept for it (and the program made to wait while that backlog is large), and the
 * connections are closed only once their backlog is sent.
 */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 32
/* While a client has this much output waiting, the container's output is not read: the
 * program blocks in write() until the client catches up (Docker's attach buffer is 1 MB). */
#define CLIENT_BACKLOG_MAX (1u << 20)
/* A client that takes nothing for this long while output waits for it is dropped: a hung
 * reader must not stall the container and its log for good. */
#define CLIENT_STALL_MS 30000

struct logfile {
	const char *path;
	int fd;
	unsigned long long size, max_size, max_files;
};

struct client {
	int fd;
	unsigned char hdr[8];
	size_t hdr_got;
	unsigned char *body;
	uint32_t body_len, body_got;
	unsigned char *out; /* frame bytes its socket has not taken yet: out[out_off..out_len) */
	size_t out_off, out_len, out_cap;
	long long progress_ms; /* when it last took bytes of its backlog, or the backlog began */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t backlog(const struct client *c)
{
	return c->out_len - c->out_off;
}

static void client_drop(struct client *c)
{
	close(c->fd);
	free(c->body);
	free(c->out);
	*c = (struct client){.fd = -1};
}

/* Keeps bytes for later; false when there is no memory for them. */
static bool backlog_add(struct client *c, const unsigned char *p, size_t n)
{
	if (c->out_len + n > c->out_cap && c->out_off) {
		memmove(c->out, c->out + c->out_off, backlog(c));
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;
		while (cap < c->out_len + n)
			cap *= 2;
		unsigned char *grown = realloc(c->out, cap);
		if (!grown)
			return false;
		c->out = grown;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return true;
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Sends what the client's socket takes of its backlog; a client that went away is dropped. */
static void client_flush(struct client *c, long long now)
{
	while (backlog(c)) {
		ssize_t w = send(c->fd, c->out + c->out_off, backlog(c), MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (!would_block())
				client_drop(c);
			return;
		}
		c->out_off += (size_t)w;
		c->progress_ms = now;
	}
	c->out_off = c->out_len = 0;
}

/* Takes every connection waiting on the attach socket, so a client that connected before
 * some output was written is among the receivers when that output is read. */
static void accept_all(int lfd, struct client *cl)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		int i = 0;
		while (i < MAX_CLIENTS && cl[i].fd >= 0)
			i++;
		if (i == MAX_CLIENTS)
			close(fd);
		else
			cl[i] = (struct client){.fd = fd};
	}
}

static void log_open(struct logfile *l)
{
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	struct stat st;
	l->size = (l->fd >= 0 && fstat(l->fd, &st) == 0) ? (unsigned long long)st.st_size : 0;
}

static void log_rotate(struct logfile *l)
{
	if (l->fd >= 0)
		close(l->fd);
	if (l->max_files <= 1) {
		truncate(l->path, 0);
	} else {
		char from[PATH_MAX], to[PATH_MAX];
		for (unsigned long long i = l->max_files - 1; i >= 1; i--) {
			if (i == 1)
				snprintf(from, sizeof(from), "%s", l->path);
			else
				snprintf(from, sizeof(from), "%s.%llu", l->path, i - 1);
			snprintf(to, sizeof(to), "%s.%llu", l->path, i);
			rename(from, to);
		}
	}
	log_open(l);
}

/* One json-file entry: {"log":"...","stream":"stdout","time":"RFC3339Nano"} */
static void log_entry(struct logfile *l, const char *stream, const char *data, size_t len)
{
	if (!l->path || l->fd < 0)
		return;
	size_t cap = len * 6 + 128;
	char *out = malloc(cap), *p = out;
	p += sprintf(p, "{\"log\":\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '"' || ch == '\\') {
			*p++ = '\\';
			*p++ = (char)ch;
		} else if (ch == '\n') {
			*p++ = '\\', *p++ = 'n';
		} else if (ch == '\r') {
			*p++ = '\\', *p++ = 'r';
		} else if (ch == '\t') {
			*p++ = '\\', *p++ = 't';
		} else if (ch < 0x20 || ch == 0x7f) {
			p += sprintf(p, "\\u%04x", ch);
		} else {
			*p++ = (char)ch;
		}
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64];
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	p += sprintf(p, "\",\"stream\":\"%s\",\"time\":\"%s.%09ldZ\"}\n", stream, when, ts.tv_nsec);
	size_t n = (size_t)(p - out);
	if (l->max_size && l->size + n > l->max_size && l->size > 0)
		log_rotate(l);
	if (l->fd >= 0 && write(l->fd, out, n) == (ssize_t)n)
		l->size += n;
	free(out);
}

/* Splits output at newlines so each json-file entry is one line, as Docker writes them. */
static void log_output(struct logfile *l, const char *stream, const char *buf, size_t n)
{
	size_t start = 0;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			log_entry(l, stream, buf + start, i - start + 1);
			start = i + 1;
		}
	}
	if (start < n)
		log_entry(l, stream, buf + start, n - start);
}

/* One frame to every client: sent at once when its socket takes it, else (the rest) kept. */
static void send_frame(struct client *cl, int ncl, int type, const char *buf, size_t n, long long now)
{
	unsigned char hdr[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				(unsigned char)(n >> 8), (unsigned char)n};
	for (int i = 0; i < ncl; i++) {
		struct client *c = &cl[i];
		if (c->fd < 0)
			continue;
		size_t sent = 0;
		if (!backlog(c)) {
			struct iovec iov[2] = {{hdr, 8}, {(void *)buf, n}};
			struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
			ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && !would_block()) {
				client_drop(c);
				continue;
			}
			sent = w > 0 ? (size_t)w : 0;
			if (sent == n + 8)
				continue;
			c->progress_ms = now;
		}
		bool kept = sent < 8 ? backlog_add(c, hdr + sent, 8 - sent) && backlog_add(c, (const unsigned char *)buf, n)
				     : backlog_add(c, (const unsigned char *)buf + (sent - 8), n - (sent - 8));
		if (!kept)
			client_drop(c);
	}
}

static void handle_client_input(struct client *cl, int *stdin_fd, int pty)
{
	unsigned char buf[8192];
	ssize_t n = read(cl->fd, buf, sizeof(buf));
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_drop(cl);
		return;
	}
	for (ssize_t off = 0; off < n;) {
		if (cl->hdr_got < 8) {
			size_t take = (size_t)(n - off) < 8 - cl->hdr_got ? (size_t)(n - off) : 8 - cl->hdr_got;
			memcpy(cl->hdr + cl->hdr_got, buf + off, take);
			cl->hdr_got += take;
			off += (ssize_t)take;
			if (cl->hdr_got == 8) {
				cl->body_len = ((uint32_t)cl->hdr[4] << 24) | ((uint32_t)cl->hdr[5] << 16) |
					       ((uint32_t)cl->hdr[6] << 8) | cl->hdr[7];
				if (cl->body_len > (1u << 20)) { /* protocol abuse: drop the client */
					client_drop(cl);
					return;
				}
				cl->body = malloc(cl->body_len + 1);
				cl->body_got = 0;
			}
			continue;
		}
		uint32_t take = (uint32_t)(n - off) < cl->body_len - cl->body_got ? (uint32_t)(n - off)
										    : cl->body_len - cl->body_got;
		memcpy(cl->body + cl->body_got, buf + off, take);
		cl->body_got += take;
		off += take;
		if (cl->body_got < cl->body_len)
			continue;
		cl->body[cl->body_len] = 0;
		int in = pty >= 0 ? pty : *stdin_fd;
		if (cl->hdr[0] == 0 && in >= 0) {
			if (write(in, cl->body, cl->body_len) < 0) { /* the program closed its stdin */ }
		} else if (cl->hdr[0] == 3) {
			unsigned rows, cols;
			if (sscanf((char *)cl->body, "resize %u %u", &rows, &cols) == 2 && pty >= 0) {
				struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
				ioctl(pty, TIOCSWINSZ, &ws);
			} else if (!strcmp((char *)cl->body, "close-stdin")) {
				if (pty >= 0) {
					char eot = 4; /* ^D: end of input for the program on the terminal */
					if (write(pty, &eot, 1) < 0) { /* ignored */ }
				} else if (*stdin_fd >= 0) {
					close(*stdin_fd);
					*stdin_fd = -1;
				}
			}
		}
		free(cl->body);
		cl->body = NULL;
		cl->hdr_got = 0;
	}
}

int serve_container(pid_t child, int out_fd, int err_fd, int stdin_fd, int pty, const char *log_path,
		    unsigned long long max_size, unsigned long long max_files, const char *attach_path,
		    const char *exit_file, void (*write_exit)(const char *, int))
{
	struct logfile log = {.path = log_path, .fd = -1, .max_size = max_size, .max_files = max_files};
	if (log_path && *log_path)
		log_open(&log);
	int lfd = attach_path && *attach_path ? listen_unix(attach_path, SOCK_NONBLOCK, 16) : -1;
	struct client cl[MAX_CLIENTS];
	for (int i = 0; i < MAX_CLIENTS; i++)
		cl[i] = (struct client){.fd = -1};

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	int status = 0;
	bool exited = false, exit_written = false;
	/* The child may have exited before SIGCHLD was blocked (its signal then discarded):
	 * look once now, then rely on the signalfd. */
	if (waitpid(child, &status, WNOHANG) == child)
		exited = true;
	int outs[2] = {pty >= 0 ? pty : out_fd, pty >= 0 ? -1 : err_fd};
	const char *names[2] = {"stdout", "stderr"};
	char buf[32768];
	for (;;) {
		size_t most = 0;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (cl[i].fd >= 0 && backlog(&cl[i]) > most)
				most = backlog(&cl[i]);
		bool reading = outs[0] >= 0 || outs[1] >= 0;
		if (exited && !reading && !exit_written) {
			/* All output is read and logged: the exit is known now, while the clients
			 * still get the rest. The socket path goes first: a restart's monitor binds it. */
			if (lfd >= 0)
				close(lfd), unlink(attach_path), lfd = -1;
			write_exit(exit_file, status);
			exit_written = true;
		}
		if (exit_written && !most)
			break;
		bool read_outs = reading && most < CLIENT_BACKLOG_MAX;
		struct pollfd p[4 + MAX_CLIENTS];
		int np = 0;
		int idx_out[2] = {-1, -1}, idx_s = -1, idx_c[MAX_CLIENTS];
		for (int k = 0; k < 2 && read_outs; k++)
			if (outs[k] >= 0)
				idx_out[k] = np, p[np++] = (struct pollfd){.fd = outs[k], .events = POLLIN};
		if (!exited) {
			if (lfd >= 0)
				p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
			idx_s = np, p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			idx_c[i] = -1;
			short ev = (short)((cl[i].fd >= 0 && !exited ? POLLIN : 0) | (cl[i].fd >= 0 && backlog(&cl[i]) ? POLLOUT : 0));
			if (ev)
				idx_c[i] = np, p[np++] = (struct pollfd){.fd = cl[i].fd, .events = ev};
		}
		/* After the exit, drain what is buffered but don't wait for grandchildren that
		 * still hold the pipes open; with a backlog, wake to notice a stalled client. */
		int timeout = exited && read_outs ? 50 : most ? 1000 : -1;
		int rc = poll(p, (nfds_t)np, timeout);
		if (rc < 0 && errno != EINTR)
			break;
		long long now = now_ms();
		if (rc == 0 && exited && read_outs) {
			outs[0] = outs[1] = -1;
			continue;
		}
		/* Accept before reading output: every client that connected before it was written
		 * gets it (docker run attaches before start; exec connects the engine's watch and
		 * the client's relay). One accept per round left the second connection waiting
		 * while the output went to the first, or unaccepted for good once the exit was seen. */
		if (lfd >= 0)
			accept_all(lfd, cl);
		for (int k = 0; k < 2; k++) {
			if (idx_out[k] < 0 || !(p[idx_out[k]].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(outs[k], buf, sizeof(buf));
			if (n <= 0) {
				if (n < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				outs[k] = -1; /* EOF, or EIO on a pty whose slave is closed */
				continue;
			}
			log_output(&log, names[k], buf, (size_t)n);
			send_frame(cl, MAX_CLIENTS, k + 1, buf, (size_t)n, now);
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			if (idx_c[i] < 0 || cl[i].fd < 0)
				continue;
			short re = p[idx_c[i]].revents;
			if (!exited && (re & (POLLIN | POLLHUP | POLLERR)))
				handle_client_input(&cl[i], &stdin_fd, pty);
			if (cl[i].fd >= 0 && backlog(&cl[i]) && (re & (POLLOUT | POLLHUP | POLLERR)))
				client_flush(&cl[i], now);
			if (cl[i].fd >= 0 && backlog(&cl[i]) && now - cl[i].progress_ms >= CLIENT_STALL_MS)
				client_drop(&cl[i]);
		}
		if (idx_s >= 0 && (p[idx_s].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) > 0) {
			}
			for (;;) {
				int st;
				pid_t w = waitpid(-1, &st, WNOHANG);
				if (w <= 0)
					break;
				if (w == child) {
					status = st;
					exited = true;
				}
			}
		}
	}
	if (!exit_written) {
		if (lfd >= 0)
			close(lfd), unlink(attach_path);
		write_exit(exit_file, status);
	}
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (cl[i].fd >= 0)
			client_drop(&cl[i]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
