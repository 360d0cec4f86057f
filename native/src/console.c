/* Terminals: the child makes the pty inside the container (after devpts is mounted) and
 * hands the master over with SCM_RIGHTS — to --console-socket (runc's protocol) or to the
 * monitor, which then relays it to its own stdin/stdout. */
#include "helper.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int send_fd(int sock, int fd)
{
	char name[] = "pty";
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int recv_fd(int sock)
{
	char buf[16];
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return errno = EPROTO, -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* console MODE(socket|monitor) ROWS COLS */
int make_pty(struct ctx *c, const struct record *r, char *msg, size_t msglen)
{
	bool to_socket = plan_enum(r, CONSOLE_MODE) == CONSOLE_MODE_SOCKET;
	const char *mode = field(r, CONSOLE_MODE);
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return snprintf(msg, msglen, "open /dev/ptmx: %s (is devpts mounted at /dev/pts?)", strerror(errno)), -1;
	char name[64];
	if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
		return snprintf(msg, msglen, "unlock pty: %s", strerror(errno)), -1;
	int slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return snprintf(msg, msglen, "open %s: %s", name, strerror(errno)), -1;
	unsigned long long rows = plan_u64(r, CONSOLE_ROWS), cols = plan_u64(r, CONSOLE_COLS);
	if (rows && cols) {
		struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
		ioctl(slave, TIOCSWINSZ, &ws);
	}
	int rc;
	if (to_socket) {
		rc = send_fd(c->console_fd, master);
		close(c->console_fd);
		c->console_fd = -1;
	} else {
		send_pty(c->sync_fd);
		rc = send_fd(c->sync_fd, master);
	}
	if (rc < 0)
		return snprintf(msg, msglen, "send pty master over the %s socket: %s", mode, strerror(errno)), -1;
	close(master);
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		return snprintf(msg, msglen, "make %s the controlling terminal: %s", name, strerror(errno)), -1;
	for (int fd = 0; fd < 3; fd++)
		if (dup2(slave, fd) < 0)
			return snprintf(msg, msglen, "dup pty to fd %d: %s", fd, strerror(errno)), -1;
	if (slave > 2)
		close(slave);
	return 0;
}

static struct termios saved_tio;
static int restore_tio;

/* Foreground terminal: relay our stdin <-> pty master until the child exits. */
void proxy_pty(int master, pid_t child)
{
	(void)child;
	if (isatty(0) && tcgetattr(0, &saved_tio) == 0) {
		struct termios raw = saved_tio;
		cfmakeraw(&raw);
		tcsetattr(0, TCSANOW, &raw);
		restore_tio = 1;
		struct winsize ws;
		if (ioctl(0, TIOCGWINSZ, &ws) == 0)
			ioctl(master, TIOCSWINSZ, &ws);
	}
	char buf[8192];
	struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = master, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(master, buf, sizeof(buf));
			if (n <= 0)
				break; /* EIO: every slave fd is closed, the program is gone */
			if (write(1, buf, (size_t)n) < 0) { /* stdout gone: keep draining */ }
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n <= 0)
				p[0].fd = -1; /* stdin closed: stop reading it, keep relaying output */
			else if (write(master, buf, (size_t)n) < 0) { /* ignored */ }
		}
	}
	if (restore_tio)
		tcsetattr(0, TCSANOW, &saved_tio);
}
