/*
 * The baseline of the intake benchmarks: a civetweb server with the same
 * options as clusterm/http.c (keep-alive, tcp_nodelay, 32 worker threads,
 * same timeouts) and one handler that reads the whole body and answers 200
 * with a tiny JSON reply, headers like clusterm's. No parsing, no state, no
 * disk: what the HTTP layer alone can do on this machine.
 *
 *   bare_civetweb ADDR:PORT [THREADS]
 *
 * Runs in the foreground until SIGTERM or SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

/* Kept equal to clusterm/http.c. */
#define BARE_THREADS_DEFAULT	"128"
#define BARE_REQUEST_TIMEOUT_MS	"5000"
#define BARE_KEEPALIVE_MS	"5000"

static int
handler(struct mg_connection *conn, void *cbdata)
{
	static const char reply[] = "{\"accepted\":1,\"duplicates\":0}";
	char buf[16384];
	long long total = 0;
	int n;

	(void)cbdata;
	while ((n = mg_read(conn, buf, sizeof(buf))) > 0)
		total += n;
	mg_printf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n\r\n", sizeof(reply) - 1);
	mg_write(conn, reply, sizeof(reply) - 1);
	(void)total;
	return 200;
}

static int
on_log(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	fprintf(stderr, "civetweb: %s\n", message);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *threads = argc > 2 ? argv[2] : BARE_THREADS_DEFAULT;
	const char *opts[] = {
		"listening_ports", NULL,
		"num_threads", threads,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", BARE_KEEPALIVE_MS,
		"request_timeout_ms", BARE_REQUEST_TIMEOUT_MS,
		"tcp_nodelay", "1",
		"decode_url", "yes",
		NULL,
	};
	struct mg_callbacks cb;
	struct mg_init_data init;
	struct mg_error_data ed;
	struct mg_context *mg;
	char errtxt[256] = "";
	sigset_t sigs;
	int sig;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bare_civetweb ADDR:PORT [THREADS]\n");
		return 1;
	}
	opts[1] = argv[1];
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	mg_init_library(0);
	memset(&cb, 0, sizeof(cb));
	cb.log_message = on_log;
	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.configuration_options = opts;
	memset(&ed, 0, sizeof(ed));
	ed.text = errtxt;
	ed.text_buffer_size = sizeof(errtxt);
	mg = mg_start2(&init, &ed);
	if (mg == NULL) {
		fprintf(stderr, "bare_civetweb: cannot listen on %s: %s\n", argv[1],
		    errtxt[0] ? errtxt : "civetweb failed to start");
		return 1;
	}
	mg_set_request_handler(mg, "/", handler, NULL);
	while (sigwait(&sigs, &sig) != 0)
		;
	mg_stop(mg);
	mg_exit_library();
	return 0;
}
