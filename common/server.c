/* server: argument parsing, config loading and pool attach + reclaim shared by every shell. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cpu_list.h"
#include "link.h"
#include "log.h"
#include "paths.h"

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
	if (rc < 0) {
		log_err("config: %s", err);
		return rc;
	}
	/* before any link is opened: every link of the instance is of one kind */
	link_set_kind(cfg->link_shm ? LINK_KIND_SHM : LINK_KIND_ZMQ);
	/* before any thread starts (ZeroMQ's, io_uring's): they inherit the affinity */
	rc = cpu_list_apply(cfg->cpus);
	if (rc < 0)
		log_err("config: cpus = %s: %s", cfg->cpus,
			rc == -EINVAL ? "names no CPU this process may run on" : strerror(-rc));
	return rc;
}

/* One process per layer and instance: a second one would reclaim the live one's buffers (and
 * fight over its state segment). Whoever holds flock on <runtime dir>/<layer>.lock is that
 * process; the lock dies with it, so a killed layer never blocks its successor. */
static int server_claim_layer(const char *instance, const char *layer)
{
	char file[64], path[512];
	snprintf(file, sizeof(file), "%s.lock", layer);
	int rc = ustack_runtime_dir_create(instance);
	if (rc == 0)
		rc = ustack_runtime_path(instance, file, path, sizeof(path));
	if (rc < 0) {
		log_err("runtime directory: %s", strerror(-rc));
		return rc;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		log_err("%s: %s", path, strerror(-rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		char pid[24] = "?";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		if (n > 0)
			pid[strcspn(pid, "\n")] = '\0';
		if (rc == -EBUSY)
			log_err("another ustack-%s of instance %s is running (pid %s, holds %s): "
				"refusing to start beside it",
				layer, instance, pid, path);
		else
			log_err("%s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("%s: cannot record our pid: %s", path, strerror(errno));
	/* Kept open (and locked) for the life of the process, on purpose. */
	return 0;
}

int server_open_pool(const struct ustack_config *cfg, enum pool_holder self, struct pool **pool,
		     uint64_t *reclaimed)
{
	int claim = server_claim_layer(cfg->instance, link_layer_name(self));
	if (claim < 0)
		return claim;

	struct pool_geometry geo = {.count = cfg->pool_buffers};
	int rc = pool_open(cfg->instance, &geo, self, pool);
	if (rc < 0) {
		log_err("pool: %s", strerror(-rc));
		return rc;
	}
	if (reclaimed)
		*reclaimed = server_reclaim_pool(*pool, self);
	return 0;
}

uint64_t server_reclaim_pool(struct pool *pool, enum pool_holder self)
{
	uint64_t n = pool_reclaim(pool, self);
	if (n)
		log_notice("reclaimed %llu buffers a previous %s held", (unsigned long long)n,
			   link_layer_name(self));
	return n;
}
