/* Unix stream sockets by path: the start socket and the attach socket (listen), and
 * --console-socket (connect). One place for the address handling and its length limit. */
#include "helper.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int unix_socket(const char *path, struct sockaddr_un *a, int extra_type_flags)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return errno = ENAMETOOLONG, -1;
	strcpy(a->sun_path, path);
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_type_flags, 0);
}

int listen_unix(const char *path, int extra_type_flags, int backlog)
{
	struct sockaddr_un a;
	int s = unix_socket(path, &a, extra_type_flags);
	if (s < 0)
		return -1;
	unlink(path);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 || listen(s, backlog) < 0) {
		int e = errno;
		close(s);
		return errno = e, -1;
	}
	return s;
}

int connect_unix(const char *path)
{
	struct sockaddr_un a;
	int s = unix_socket(path, &a, 0);
	if (s < 0)
		return -1;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(s);
		return errno = e, -1;
	}
	return s;
}
