/* What a previous run left behind: /proc, process groups, the boot id. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs.h"

int
jobs_proc_parse(const char *line, struct jobs_proc *ret)
{
	const char *p = strrchr(line, ')');	/* the name is "(...)" and may hold ')' */
	struct jobs_proc r = { 0 };
	char *end;
	long pid;

	pid = strtol(line, &end, 10);
	if (p == NULL || end == line || *end != ' ' || pid <= 0 || pid > INT_MAX ||
	    p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
		return -EBADMSG;
	r.pid = (pid_t)pid;
	r.state = p[2];
	p += 4;
	/* Fields 4 (ppid) to 22 (starttime); p is at field 4. */
	for (int field = 4; field <= 22; field++) {
		unsigned long long v;

		errno = 0;
		if (*p == '-' && field != 22)
			v = (unsigned long long)strtoll(p, &end, 10);	/* tty_pgrp -1 */
		else
			v = strtoull(p, &end, 10);
		if (end == p || errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
			return -EBADMSG;
		if (field == 5 || field == 6) {
			if (v > INT_MAX)
				return -EBADMSG;
			if (field == 5)
				r.pgrp = (pid_t)v;
			else
				r.sid = (pid_t)v;
		} else if (field == 22) {
			r.start_ticks = v;
		}
		p = *end == ' ' ? end + 1 : end;
	}
	*ret = r;
	return 0;
}

int
jobs_proc_read(pid_t pid, struct jobs_proc *ret)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ENOENT : -errno;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	r = n < 0 ? (errno == ESRCH ? -ENOENT : -errno) : 0;
	close(fd);
	if (r < 0)
		return r;
	if (n == 0)
		return -ENOENT;	/* it went while we read */
	buf[n] = '\0';
	return jobs_proc_parse(buf, ret);
}

int
jobs_boot_id(char *buf, size_t len)
{
	char text[128];
	ssize_t n;
	int fd, r = 0;

	/* A /proc file has no size to go by: one read. */
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, text, sizeof(text) - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		n--;
	if (n == 0 || (size_t)n >= len)
		return -EBADMSG;
	memcpy(buf, text, (size_t)n);
	buf[n] = '\0';
	return 0;
}

static int
real_read(pid_t pid, struct jobs_proc *ret, void *arg)
{
	(void)arg;
	return jobs_proc_read(pid, ret);
}

static int
real_list(pid_t **ret, size_t *ret_n, void *arg)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t *v = NULL;
	size_t n = 0, cap = 0;

	(void)arg;
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (end == e->d_name || *end != '\0' || pid <= 0 || pid > INT_MAX)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 256;
			pid_t *nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = (pid_t)pid;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

const struct jobs_procfs jobs_procfs_real = { real_read, real_list, NULL };

int
jobs_group_check(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks)
{
	struct jobs_proc p;
	bool leader = false;
	pid_t *all = NULL;
	size_t n = 0;
	int r;

	if (pgid <= 1 || start_ticks == 0)
		return 0;
	r = fs->read(pgid, &p, fs->arg);
	if (r == 0) {
		/* The id is in use: by the leader, or by a new process (the group is gone). */
		if (p.start_ticks != start_ticks)
			return 0;
		leader = true;
	} else if (r != -ENOENT) {
		return r;
	}
	if ((r = fs->list(&all, &n, fs->arg)) < 0)
		return r;
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		if (fs->read(all[i], &p, fs->arg) < 0 || p.pgrp != pgid || p.state == 'Z')
			continue;
		/*
		 * Leader gone: the id was not reused while its group lived; the
		 * session and start time keep out a group made under that id
		 * after the job's had emptied.
		 */
		if (leader || (p.sid == sid && p.start_ticks >= start_ticks))
			r = 1;
	}
	free(all);
	return r;
}

int
jobs_group_signal(const struct jobs_procfs *fs, pid_t pgid, pid_t sid,
    unsigned long long start_ticks, int sig)
{
	int r = jobs_group_check(fs, pgid, sid, start_ticks);

	if (r <= 0)
		return r;
	if (kill(-pgid, sig) < 0)
		return errno == ESRCH ? 0 : -errno;
	return 1;
}
