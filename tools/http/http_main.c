/* ustack-http: an HTTP/1.1 file server and client on libsock stream sockets.
 *
 *   ustack-http serve --port N --root DIR [--instance NAME] [--max-conns N] [--quiet]
 *   ustack-http get URL -o FILE [--instance NAME] [--timeout SECONDS] [--quiet]
 *
 * The instance is --instance or $USTACK_INSTANCE. `serve` prints "... ready" once listening
 * (scripts wait for it), an access-log line per response on stdout (not with --quiet), and its
 * counters when SIGTERM or SIGINT stop it (status 0). `get` fetches URL
 * (http://A.B.C.D[:port]/path) into FILE ("-": stdout) and prints one line on stderr: what it
 * got, or why it failed.
 *
 * Exit status: 0 success (serve: stopped by a signal), 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "http_server.h"
#include "ustack/sock.h"

static int hm_stop_pipe[2] = {-1, -1};

static void hm_on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	char b = 1;
	if (write(hm_stop_pipe[1], &b, 1) < 0) {
		/* the pipe is full: a stop is pending already */
	}
	errno = saved;
}

static void hm_usage(FILE *f)
{
	fputs("usage: ustack-http serve --port N --root DIR [--instance NAME] [--max-conns N] "
	      "[--quiet]\n"
	      "       ustack-http get URL -o FILE [--instance NAME] [--timeout SECONDS] [--quiet]\n"
	      "URL is http://A.B.C.D[:port]/path; FILE '-' is stdout. The instance defaults to\n"
	      "$USTACK_INSTANCE.\n",
	      f);
}

static int hm_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int hm_instance(const char *instance)
{
	if (instance) {
		if (us_set_instance(instance) < 0) {
			fprintf(stderr, "ustack-http: bad instance name '%s'\n", instance);
			return -1;
		}
		return 0;
	}
	const char *env = getenv("USTACK_INSTANCE");
	if (!env || !env[0]) {
		fprintf(stderr, "ustack-http: no instance (--instance NAME or USTACK_INSTANCE)\n");
		return -1;
	}
	return 0;
}

static int hm_serve(unsigned port, const char *root, unsigned max_conns, bool quiet)
{
	if (pipe2(hm_stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		fprintf(stderr, "ustack-http: pipe: %s\n", strerror(errno));
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hm_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct http_server_config cfg = {
		.port = (uint16_t)port,
		.root = root,
		.max_conns = max_conns,
		.stop_fd = hm_stop_pipe[0],
		.log = quiet ? NULL : stdout,
	};
	struct http_server *s = NULL;
	if (http_server_open(&cfg, &s) < 0)
		return 1;
	printf("ustack-http: serving %s on port %u, ready\n", root, port);
	int rc = http_server_run(s);
	const struct http_server_stats *st = http_server_stats(s);
	printf("ustack-http: stopping: %llu connections (%llu timed out, %llu reset, %llu accept "
	       "errors), %llu requests: %llu 2xx, %llu 3xx, %llu 4xx, %llu 5xx (%llu malformed, "
	       "%llu traversal refused), %llu body bytes sent, %llu file errors\n",
	       (unsigned long long)st->conns_accepted, (unsigned long long)st->conns_timed_out,
	       (unsigned long long)st->conns_reset, (unsigned long long)st->accept_errors,
	       (unsigned long long)st->requests, (unsigned long long)st->resp_2xx,
	       (unsigned long long)st->resp_3xx, (unsigned long long)st->resp_4xx,
	       (unsigned long long)st->resp_5xx, (unsigned long long)st->bad_requests,
	       (unsigned long long)st->traversal_refused, (unsigned long long)st->body_bytes,
	       (unsigned long long)st->file_errors);
	http_server_close(&s);
	return rc < 0 ? 1 : 0;
}

static int hm_get(const char *url, const char *out, int timeout_ms, bool quiet)
{
	struct http_get_opts o = {.url = url, .out_path = out, .timeout_ms = timeout_ms};
	struct http_get_result r;
	if (http_get(&o, &r) < 0) {
		fprintf(stderr, "ustack-http: %s: %s\n", url, r.error);
		return 1;
	}
	if (!quiet)
		fprintf(stderr, "ustack-http: %s: %llu bytes in %.3f s (%.1f MB/s)\n", url,
			(unsigned long long)r.bytes, r.seconds,
			r.seconds > 0 ? (double)r.bytes / r.seconds / 1e6 : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"root", required_argument, NULL, 'r'},
		{"instance", required_argument, NULL, 'i'},
		{"max-conns", required_argument, NULL, 'm'},
		{"timeout", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	if (argc < 2) {
		hm_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		hm_usage(stdout);
		return 0;
	}
	const char *cmd = argv[1];
	bool serve = strcmp(cmd, "serve") == 0, get = strcmp(cmd, "get") == 0;
	if (!serve && !get) {
		fprintf(stderr, "ustack-http: unknown command '%s'\n", cmd);
		hm_usage(stderr);
		return 2;
	}
	unsigned long port = 0, max_conns = 0, timeout_s = 0;
	const char *root = NULL, *instance = NULL, *out = NULL;
	bool quiet = false;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (hm_parse_uint(optarg, 1, 65535, &port) < 0) {
				fprintf(stderr, "ustack-http: bad port '%s' (1..65535)\n", optarg);
				return 2;
			}
			break;
		case 'r': root = optarg; break;
		case 'i': instance = optarg; break;
		case 'm':
			if (hm_parse_uint(optarg, 1, 1024, &max_conns) < 0) {
				fprintf(stderr, "ustack-http: bad --max-conns '%s' (1..1024)\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (hm_parse_uint(optarg, 1, 3600, &timeout_s) < 0) {
				fprintf(stderr, "ustack-http: bad --timeout '%s' (1..3600 s)\n", optarg);
				return 2;
			}
			break;
		case 'o': out = optarg; break;
		case 'q': quiet = true; break;
		case 'h': hm_usage(stdout); return 0;
		default: hm_usage(stderr); return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (serve) {
		if (optind != argc || !port || !root) {
			hm_usage(stderr);
			return 2;
		}
		if (hm_instance(instance) < 0)
			return 2;
		return hm_serve((unsigned)port, root, (unsigned)max_conns, quiet);
	}
	if (optind != argc - 1 || !out || port || root || max_conns) {
		hm_usage(stderr);
		return 2;
	}
	if (hm_instance(instance) < 0)
		return 2;
	return hm_get(argv[optind], out, (int)(timeout_s * 1000), quiet);
}
