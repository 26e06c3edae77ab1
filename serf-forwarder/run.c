/* run_capture(): posix_spawn with stdout and stderr on pipes, read within a bound. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cm_limits.h"
#include "fsio.h"
#include "run.h"

extern char **environ;

/* Keeps what fits of chunk in errbuf (control characters as spaces). */
static void
keep_err(char *errbuf, size_t errlen, size_t *used, const char *chunk, size_t n)
{
	for (size_t i = 0; i < n && *used + 1 < errlen; i++) {
		unsigned char ch = (unsigned char)chunk[i];
		errbuf[(*used)++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	errbuf[*used] = '\0';
}

/* Trailing spaces (the newline serf ends with) are not worth showing. */
static void
trim_err(char *errbuf, size_t used)
{
	while (used > 0 && errbuf[used - 1] == ' ')
		errbuf[--used] = '\0';
}

int
run_capture(char *const argv[], long long deadline_ms, char **ret_out, size_t *ret_len,
    char *errbuf, size_t errlen)
{
	posix_spawn_file_actions_t fa;
	struct buf out;
	char *txt, dummy[1];
	size_t len, used = 0;
	int pfd[2], efd[2], status, r = 0;
	bool out_open = true, err_open = true;
	pid_t pid;

	if (errbuf == NULL || errlen == 0) {
		errbuf = dummy;
		errlen = sizeof(dummy);
	}
	errbuf[0] = '\0';
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(efd, O_CLOEXEC) < 0) {
		r = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return r;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, efd[1], STDERR_FILENO);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	close(efd[1]);
	if (r != 0) {
		close(pfd[0]);
		close(efd[0]);
		return -r;
	}
	buf_init(&out, LIMIT_BODY_BYTES_MAX);
	while (out_open || err_open) {
		long long left = deadline_ms - fsio_mono_ms();
		struct pollfd pf[2] = {
			{ .fd = out_open ? pfd[0] : -1, .events = POLLIN },
			{ .fd = err_open ? efd[0] : -1, .events = POLLIN },
		};
		char chunk[4096];
		ssize_t n;

		if (left <= 0) {
			kill(pid, SIGKILL);
			r = -ETIMEDOUT;
			break;
		}
		if (poll(pf, 2, (int)(left > 60000 ? 60000 : left)) <= 0)
			continue;
		if (err_open && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(efd[0], chunk, sizeof(chunk));
			if (n > 0)
				keep_err(errbuf, errlen, &used, chunk, (size_t)n);
			else if (n == 0 || errno != EINTR)
				err_open = false;
		}
		if (!out_open || !(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(pfd[0], chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			out_open = false;
			continue;
		}
		if ((r = buf_add(&out, chunk, (size_t)n)) < 0) {
			kill(pid, SIGKILL);
			if (r == -E2BIG)
				r = -EFBIG;
			break;
		}
	}
	trim_err(errbuf, used);
	close(pfd[0]);
	close(efd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		r = -ECHILD;
		/* serf writes its errors to stdout: show that when stderr is quiet. */
		if (used == 0 && out.len > 0) {
			keep_err(errbuf, errlen, &used, out.data, out.len);
			trim_err(errbuf, used);
		}
	}
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
