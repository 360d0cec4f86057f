/* Record framing: see wire.h for the format and the handshake diagram. */
#include "wire.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*read_exact_fn)(void *ctx, void *buf, size_t len);

/* read(2) without EINTR: >0 bytes, 0 at EOF, -1 on error */
static ssize_t read_some(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/* 1: len bytes read; 0: EOF before any; -1: error (errno set) */
static int read_full(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read_some(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return n < 0 ? -1 : got == 0 ? 0 : (errno = EPROTO, -1);
		got += (size_t)n;
	}
	return 1;
}

static int read_buffered(void *ctx, void *buf, size_t len)
{
	struct wire_reader *rd = ctx;
	size_t got = 0;
	while (got < len) {
		if (rd->off == rd->len) {
			ssize_t n = read_some(rd->fd, rd->buf, sizeof(rd->buf));
			if (n <= 0)
				return n < 0 ? -1 : got == 0 ? 0 : (errno = EPROTO, -1);
			rd->off = 0;
			rd->len = (size_t)n;
		}
		size_t take = rd->len - rd->off < len - got ? rd->len - rd->off : len - got;
		memcpy((char *)buf + got, rd->buf + rd->off, take);
		rd->off += take;
		got += take;
	}
	return 1;
}

static int parse_record(read_exact_fn read_exact, void *ctx, struct record *r)
{
	uint32_t n;
	memset(r, 0, sizeof(*r));
	r->op = -1;
	int rc = read_exact(ctx, &n, 4);
	if (rc <= 0)
		return rc;
	if (n == 0 || n > WIRE_MAX_FIELDS)
		return errno = EPROTO, -1;
	r->f = calloc(n, sizeof(char *));
	r->len = calloc(n, sizeof(uint32_t));
	if (!r->f || !r->len)
		return errno = ENOMEM, -1;
	r->n = n;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len;
		if (read_exact(ctx, &len, 4) != 1 || len > WIRE_MAX_FIELD)
			return errno = errno ? errno : EPROTO, -1;
		r->f[i] = malloc(len + 1);
		if (!r->f[i])
			return errno = ENOMEM, -1;
		if (len && read_exact(ctx, r->f[i], len) != 1)
			return errno = EPROTO, -1;
		r->f[i][len] = 0;
		r->len[i] = len;
	}
	return 1;
}

int wire_read(int fd, struct record *r)
{
	return parse_record(read_full, &fd, r);
}

int wire_read_buffered(struct wire_reader *rd, struct record *r)
{
	return parse_record(read_buffered, rd, r);
}

void wire_free(struct record *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		free(r->f[i]);
	free(r->f);
	free(r->len);
	memset(r, 0, sizeof(*r));
}

int wire_write(int fd, int n, const char *const *fields)
{
	size_t total = 4;
	for (int i = 0; i < n; i++)
		total += 4 + strlen(fields[i]);
	char *buf = malloc(total), *p = buf;
	if (!buf)
		return -1;
	uint32_t v = (uint32_t)n;
	memcpy(p, &v, 4), p += 4;
	for (int i = 0; i < n; i++) {
		v = (uint32_t)strlen(fields[i]);
		memcpy(p, &v, 4), p += 4;
		memcpy(p, fields[i], v), p += v;
	}
	size_t off = 0;
	while (off < total) {
		/* send() with MSG_NOSIGNAL on sockets so a vanished peer is EPIPE, not SIGPIPE */
		ssize_t w = send(fd, buf + off, total - off, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, buf + off, total - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return -1;
		}
		off += (size_t)w;
	}
	free(buf);
	return 0;
}
