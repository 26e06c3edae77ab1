/* run_capture(): posix_spawn with stdout on a pipe, read within a bound. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cm_limits.h"
#include "fsio.h"
#include "run.h"

extern char **environ;

int
run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len)
{
	posix_spawn_file_actions_t fa;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int pfd[2], status, r = 0;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		return -r;
	}
	for (;;) {
		long long left = deadline_ms - fsio_mono_ms();
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pf, 1, (int)(left > 60000 ? 60000 : left)) <= 0)
			continue;
		if (len + 4096 > cap) {
			char *nb;
			if (cap >= LIMIT_BODY_BYTES_MAX) {
				kill(pid, SIGKILL);
				r = -EFBIG;
				break;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				kill(pid, SIGKILL);
				r = -ENOMEM;
				break;
			}
			buf = nb;
		}
		n = read(pfd[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = -ECHILD;
	if (r < 0) {
		free(buf);
		return r;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return -ENOMEM;
	buf[len] = '\0';
	*ret_out = buf;
	*ret_len = len;
	return 0;
}
