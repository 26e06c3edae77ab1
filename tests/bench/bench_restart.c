/*
 * Restart benchmark helper.
 *
 *   bench_restart mkstate DIR NODES RECORDS [SNAPSHOT_AT]
 *       Builds a clusterm state dir without a running clusterm, through
 *       clusterm's own state/store/ops code (linked from clusterm_core):
 *       RECORDS operations of one node report each, as the single-report
 *       intake logs them (the report with its reporter, epoch and seq). Record i reports node i % NODES, sent by one
 *       of three reporters (serf members node000000..node000002) with an
 *       increasing seq, so after the first NODES records every record is an
 *       update and nodes carry up to three votes. Nothing is snapshotted
 *       (clusterm would cut a snapshot every STATE_SNAPSHOT_RECORDS records:
 *       this log is longer than clusterm itself ever leaves it), unless
 *       SNAPSHOT_AT > 0: then a snapshot is forced after that many records
 *       and the rest stay in the log, as clusterm leaves it.
 *
 *   bench_restart start CLUSTERM ADDR:PORT DIR TIMEOUT_S
 *       Starts CLUSTERM -l ADDR:PORT -d DIR, polls GET /healthz every 2 ms
 *       until it answers (200 or 503), prints the seconds from fork to that
 *       answer and the process's VmRSS, then stops it with SIGTERM (SIGKILL
 *       after TIMEOUT_S) and reaps it. The child dies with this process
 *       (PR_SET_PDEATHSIG).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "fsio.h"
#include "oplog.h"
#include "ops.h"
#include "report_json.h"
#include "report.h"
#include "state.h"
#include "state_impl.h"
#include "votes.h"

#define NREPORTERS 3

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
warn_cb(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "bench_restart: store: %s\n", msg);
}

static int
fill_report(struct report *r, unsigned long i, unsigned long version)
{
	char label[32], serial[32], addr[32], ver[32];
	int rc = 0;

	snprintf(label, sizeof(label), "node%06lu", i);
	snprintf(serial, sizeof(serial), "SN%08lu", i);
	snprintf(addr, sizeof(addr), "10.%lu.%lu.%lu", (i >> 16) & 255, (i >> 8) & 255,
	    i & 255);
	snprintf(ver, sizeof(ver), "v%lu", version);
	report_init(r);
	rc |= report_set(r, REPORT_KEY_LABEL, label);
	rc |= report_set(r, REPORT_KEY_SERIAL, serial);
	rc |= report_set(r, REPORT_KEY_ADDR, addr);
	rc |= report_set(r, REPORT_KEY_NAME, label);
	rc |= report_set(r, REPORT_KEY_ROLE, "worker");
	rc |= report_set(r, REPORT_KEY_EVENT, "member-update");
	rc |= report_set(r, "dc", "dc1");
	rc |= report_set(r, "agent", ver);
	return rc < 0 ? -ENOMEM : 0;
}

static int
mkstate(const char *dir, unsigned long nodes, unsigned long records, unsigned long snap_at)
{
	struct votes_params params = { .grace_ms = 5000, .quorum = 0,
		.disruption_ratio = 0.55, .disruption_window_ms = 60000 };
	static const char *reporters[NREPORTERS] = { "node000000", "node000001",
		"node000002" };
	uint64_t seqs[NREPORTERS] = { 0 }, seq = 0;
	long long now = fsio_now_ms();
	struct state *s;
	char err[512];
	double t0 = mono();
	int rc;

	rc = oplog_open(dir, &params, apply_op, NULL, &s, err, sizeof(err), warn_cb, NULL);
	if (rc < 0) {
		fprintf(stderr, "bench_restart: %s\n", err);
		return 1;
	}
	/*
	 * What intake does for one report from a reporter, minus the wait for
	 * each fsync: the operations are appended back to back (the store
	 * group-commits them) and applied in order.
	 */
	for (unsigned long i = 0; i < records; i++) {
		unsigned long k = i % NREPORTERS;
		struct op op = { .kind = OP_REPORTS };
		struct report r;
		char *buf;
		size_t len;

		if (fill_report(&r, i % nodes, i / nodes) < 0)
			goto oom;
		op.time_ms = now + (long long)(i / 1000);
		op.u.reports.reporter = reporters[k];
		op.u.reports.epoch = "bench-epoch";
		op.u.reports.seq = ++seqs[k];
		op.u.reports.has_seq = true;
		op.u.reports.actor = "bench";
		op.u.reports.kind = REPORT_KIND_DISCOVERED;
		op.u.reports.reports = &r;
		op.u.reports.n = 1;
		rc = ops_encode(&op, &buf, &len);
		if (rc == 0)
			rc = store_append(s->store, buf, len, &seq);
		free(buf);
		if (rc == 0) {
			pthread_rwlock_wrlock(&s->lock);
			s->recovering = true;	/* quiet: no log line per state change */
			apply_op(s, &op, NULL);
			s->recovering = false;
			pthread_rwlock_unlock(&s->lock);
		}
		report_finish(&r);
		if (rc < 0) {
			fprintf(stderr, "bench_restart: record %lu: %s\n", i, strerror(-rc));
			state_close(s);
			return 1;
		}
		if (snap_at > 0 && i + 1 == snap_at) {
			if ((rc = store_wait(s->store, seq)) < 0 ||
			    (rc = oplog_maybe_snapshot(s, true, err, sizeof(err))) < 0) {
				fprintf(stderr, "bench_restart: snapshot: %s\n", err);
				state_close(s);
				return 1;
			}
		}
	}
	if (seq > 0 && (rc = store_wait(s->store, seq)) < 0) {
		fprintf(stderr, "bench_restart: fsync: %s\n", strerror(-rc));
		state_close(s);
		return 1;
	}
	printf("mkstate: %lu nodes, %lu records in %.2fs\n", inventory_count(s->inv),
	    records, mono() - t0);
	state_close(s);
	return 0;
oom:
	fprintf(stderr, "bench_restart: out of memory\n");
	state_close(s);
	return 1;
}

/* 1 when GET /healthz got a status line (200 or 503), 0 otherwise. */
static int
healthz(const struct sockaddr_in *sa)
{
	static const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
	char buf[64];
	ssize_t n;
	size_t got = 0;
	int fd, ok = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		ok = strncmp(buf, "HTTP/1.", 7) == 0 && got >= 12 &&
		    (strncmp(buf + 9, "200", 3) == 0 || strncmp(buf + 9, "503", 3) == 0);
	}
	close(fd);
	return ok;
}

static long
vmrss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int
reap(pid_t pid, double timeout)
{
	double deadline = mono() + timeout;
	int status;

	kill(pid, SIGTERM);
	while (mono() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "bench_restart: clusterm %d did not stop in %.0fs: SIGKILL\n",
	    (int)pid, timeout);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static int
start(const char *bin, const char *addr, const char *dir, double timeout)
{
	struct sockaddr_in sa;
	char host[64];
	const char *colon = strrchr(addr, ':');
	double t0, t1;
	pid_t pid;
	int status;
	long rss;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "bench_restart: ADDR must be IPv4:PORT\n");
		return 1;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || port < 1 || port > 65535) {
		fprintf(stderr, "bench_restart: bad port in %s\n", addr);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench_restart: %s is not an IPv4 address\n", host);
		return 1;
	}
	t0 = mono();
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(bin, bin, "-l", addr, "-d", dir, (char *)NULL);
		perror(bin);
		_exit(127);
	}
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "bench_restart: clusterm exited (status %d) before "
			    "answering /healthz\n", status);
			return 1;
		}
		if (healthz(&sa))
			break;
		if (mono() - t0 > timeout) {
			fprintf(stderr, "bench_restart: no /healthz answer within %.0fs\n",
			    timeout);
			reap(pid, 10);
			return 1;
		}
		usleep(2000);
	}
	t1 = mono();
	rss = vmrss_kb(pid);
	printf("restart_s=%.3f rss_kb=%ld\n", t1 - t0, rss);
	fflush(stdout);
	return reap(pid, timeout) < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 6 && strcmp(argv[1], "mkstate") == 0)
		return mkstate(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10),
		    argc == 6 ? strtoul(argv[5], NULL, 10) : 0);
	if (argc == 6 && strcmp(argv[1], "start") == 0)
		return start(argv[2], argv[3], argv[4], atof(argv[5]));
	fprintf(stderr, "usage: bench_restart mkstate DIR NODES RECORDS [SNAPSHOT_AT]\n"
	    "       bench_restart start CLUSTERM ADDR:PORT DIR TIMEOUT_S\n");
	return 1;
}
