/* run_capture(): posix_spawn with stdout on a pipe, read within a bound. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cm_limits.h"
#include "fsio.h"
#include "run.h"

extern char **environ;

int
run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len)
{
	posix_spawn_file_actions_t fa;
	struct buf out;
	char *txt;
	size_t len;
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
	buf_init(&out, LIMIT_BODY_BYTES_MAX);
	for (;;) {
		long long left = deadline_ms - fsio_mono_ms();
		struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
		char chunk[4096];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			r = -ETIMEDOUT;
			break;
		}
		if (poll(&pf, 1, (int)(left > 60000 ? 60000 : left)) <= 0)
			continue;
		n = read(pfd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((r = buf_add(&out, chunk, (size_t)n)) < 0) {
			kill(pid, SIGKILL);
			if (r == -E2BIG)
				r = -EFBIG;
			break;
		}
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = -ECHILD;
	if (r < 0) {
		buf_free(&out);
		return r;
	}
	len = out.len;
	if ((txt = buf_take(&out)) == NULL)
		return -ENOMEM;
	*ret_out = txt;
	*ret_len = len;
	return 0;
}
