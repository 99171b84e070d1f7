/* server: argument parsing, config loading and pool attach + reclaim shared by every shell. */
#include "server.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "link.h"
#include "log.h"

static void server_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s --instance NAME [--config PATH]\n", prog);
}

int server_parse_args(int argc, char **argv, const char *prog, struct server_args *out)
{
	static const struct option opts[] = {
		{"instance", required_argument, NULL, 'i'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(out, 0, sizeof(*out));
	int c;
	while ((c = getopt_long(argc, argv, "i:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': out->instance = optarg; break;
		case 'c': out->config_path = optarg; break;
		case 'h': server_usage(stdout, prog); return SERVER_ARGS_HELP;
		default: server_usage(stderr, prog); return 2;
		}
	}
	if (!out->instance || optind != argc) {
		server_usage(stderr, prog);
		return 2;
	}
	return 0;
}

void server_follow_manager(void)
{
	const char *v = getenv("MANAGERPID");
	if (!v || !*v)
		return;
	char *end;
	long manager = strtol(v, &end, 10);
	if (*end || manager <= 1 || manager != (long)getppid())
		return; /* not started by that manager directly (run by hand with the variable set) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return;
	/* The manager may have died between our fork and the prctl: then we were re-parented
	 * already and the signal will never come. */
	if ((long)getppid() != manager)
		_exit(1);
}

int server_load_config(const struct server_args *args, struct ustack_config *cfg)
{
	char err[512];
	int rc;
	config_defaults(cfg, args->instance);
	if (args->config_path)
		rc = config_load(args->config_path, cfg, err, sizeof(err));
	else
		rc = config_load_instance(args->instance, cfg, err, sizeof(err));
	if (rc < 0)
		log_err("config: %s", err);
	return rc;
}

int server_open_pool(const struct ustack_config *cfg, enum pool_holder self, struct pool **pool,
		     uint64_t *reclaimed)
{
	struct pool_geometry geo = {.count = cfg->pool_buffers};
	int rc = pool_open(cfg->instance, &geo, self, pool);
	if (rc < 0) {
		log_err("pool: %s", strerror(-rc));
		return rc;
	}
	*reclaimed = pool_reclaim(*pool, self);
	if (*reclaimed)
		log_notice("reclaimed %llu buffers a previous %s held", (unsigned long long)*reclaimed,
			   link_layer_name(self));
	return 0;
}
