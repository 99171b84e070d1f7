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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cpu_list.h"
#include "link.h"
#include "log.h"
#include "paths.h"
#include "sdnotify.h"

static void server_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s --instance NAME [--config PATH] [--standby]\n", prog);
}

int server_parse_args(int argc, char **argv, const char *prog, struct server_args *out)
{
	static const struct option opts[] = {
		{"instance", required_argument, NULL, 'i'},
		{"config", required_argument, NULL, 'c'},
		{"standby", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	memset(out, 0, sizeof(*out));
	int c;
	while ((c = getopt_long(argc, argv, "i:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': out->instance = optarg; break;
		case 'c': out->config_path = optarg; break;
		case 's': out->standby = true; break;
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

/* The holder's pid as it wrote it into the lock file, "?" when unreadable. */
static void server_lock_holder(int fd, char *pid, size_t size)
{
	snprintf(pid, size, "?");
	ssize_t n = pread(fd, pid, size - 1, 0);
	if (n > 0) {
		pid[n] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
	}
}

static void server_standby_tick(int sig) { (void)sig; }

/* When this process, a standby, got the layer's lock (0: it never stood by): server_ready
 * reports how long the takeover's start took from there. */
static uint64_t server_took_over_ns;

static void server_standby_tick_every(uint64_t ns)
{
	struct itimerval tick = {0};
	if (ns) {
		tick.it_value.tv_sec = (time_t)(ns / 1000000000u);
		tick.it_value.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
		if (tick.it_value.tv_sec == 0 && tick.it_value.tv_usec == 0)
			tick.it_value.tv_usec = 1;
		tick.it_interval = tick.it_value;
	}
	setitimer(ITIMER_REAL, &tick, NULL);
}

/* Run the standby's preparation once: true once it is done. */
static bool server_standby_prepare(int fd, const struct server_standby_prep *prep)
{
	char holder[24];
	server_lock_holder(fd, holder, sizeof(holder));
	char *end;
	long pid = strtol(holder, &end, 10);
	if (end == holder || *end || pid <= 0)
		pid = 0;
	return prep->fn(prep->arg, pid) == 0;
}

/* Stand by until the serving process of the layer lets go of the lock (it exits, or is killed:
 * the kernel drops a flock as the holder's files are closed, before its parent even hears of
 * the death), then take it. The wait is a blocking flock, so the hand-over costs one wake-up,
 * not a polling interval. A SIGALRM without SA_RESTART breaks the wait every half watchdog
 * interval to feed systemd's watchdog: a standby is a live process with a unit of its own,
 * and one that stopped feeding would be restarted like a hung server. The same tick runs the
 * layer's preparation (`prep`) until it succeeds, first SERVER_STANDBY_PREP_RETRY_MS apart,
 * then twice as far apart each time, up to the feed interval.
 * SIGTERM keeps its default action while standing by: there is nothing to clean yet. */
static int server_stand_by(int fd, const char *instance, const char *layer,
			   const struct server_standby_prep *prep)
{
	char holder[24], status[128];
	server_lock_holder(fd, holder, sizeof(holder));
	log_notice("standing by: pid %s serves %s of instance %s", holder, layer, instance);
	snprintf(status, sizeof(status), "standby for pid %s", holder);
	sdn_ready(status);

	/* The tick feeds the watchdog, and retries the preparation until it is done. */
	struct sigaction sa = {.sa_handler = server_standby_tick}, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	uint64_t feed_ns = sdn_watchdog_interval();
	uint64_t retry_ns = (uint64_t)SERVER_STANDBY_PREP_RETRY_MS * CLOCK_NS_PER_MS;
	uint64_t retry_max_ns =
		feed_ns ? feed_ns : (uint64_t)SERVER_STANDBY_PREP_RETRY_MAX_MS * CLOCK_NS_PER_MS;
	bool prepared = !prep || !prep->fn || server_standby_prepare(fd, prep);
	if (retry_ns > retry_max_ns)
		retry_ns = retry_max_ns;
	server_standby_tick_every(prepared ? feed_ns : retry_ns);
	int rc = 0;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			break;
		}
		sdn_watchdog();
		if (prepared)
			continue;
		if (server_standby_prepare(fd, prep)) {
			prepared = true;
			server_standby_tick_every(feed_ns);
		} else if (retry_ns < retry_max_ns) {
			/* A holder that cannot say yes yet (nicd before its first read) is asked
			 * less and less often, not 20 times a second for ever. */
			retry_ns = retry_ns * 2 < retry_max_ns ? retry_ns * 2 : retry_max_ns;
			server_standby_tick_every(retry_ns);
		}
	}
	server_standby_tick_every(0);
	sigaction(SIGALRM, &old, NULL);
	if (rc < 0)
		return rc;
	server_took_over_ns = clock_now();
	/* Said before anything else: `ustackctl` picks the serving unit by this. */
	snprintf(status, sizeof(status), "taking over from pid %s", holder);
	sdn_status(status);
	log_notice("taking over %s of instance %s from pid %s", layer, instance, holder);
	return 0;
}

/* One process per layer and instance serves: a second one would reclaim the live one's buffers
 * (and fight over its state segment). Whoever holds flock on <runtime dir>/<layer>.lock is that
 * process; the lock dies with it, so a killed layer never blocks its successor. */
int server_claim_layer(const char *instance, const char *layer, bool standby,
		       const struct server_standby_prep *prep)
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
		if (rc == -EBUSY && standby)
			rc = server_stand_by(fd, instance, layer, prep);
		if (rc < 0) {
			char pid[24];
			server_lock_holder(fd, pid, sizeof(pid));
			if (rc == -EBUSY)
				log_err("another ustack-%s of instance %s is running (pid %s, holds "
					"%s): refusing to start beside it (--standby waits instead)",
					layer, instance, pid, path);
			else
				log_err("%s: %s", path, strerror(-rc));
			close(fd);
			return rc;
		}
	}
	char pid[24];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		log_warn("%s: cannot record our pid: %s", path, strerror(errno));
	/* Kept open (and locked) for the life of the process, on purpose. */
	return 0;
}

int server_open_pool(const struct server_args *args, const struct ustack_config *cfg,
		     enum pool_holder self, struct pool **pool, uint64_t *reclaimed)
{
	int claim = server_claim_layer(cfg->instance, link_layer_name(self), args->standby,
				       &args->prep);
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

void server_ready(const char *status)
{
	if (server_took_over_ns)
		log_notice("took over: serving %.1f ms after the lock was free",
			   (double)(clock_now() - server_took_over_ns) / (double)CLOCK_NS_PER_MS);
	log_info("%s", status);
	sdn_ready(status);
}
