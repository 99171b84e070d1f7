/* server: the start-up steps every server shell shares, so each shell's init() reads as the
 * list of what is particular to its layer: arguments, the instance's config, and attaching the
 * pool with a reclaim of what this layer's dead predecessor held. */
#ifndef USTACK_SERVER_H
#define USTACK_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "pool.h"

/* What a standby prepares while it waits, besides feeding the watchdog: `fn` is called before
 * the wait, then again until it returns 0 (SERVER_STANDBY_PREP_RETRY_MS later, twice that after
 * each failure, up to the watchdog's feed interval or SERVER_STANDBY_PREP_RETRY_MAX_MS), with
 * the pid that holds the layer as that process wrote it into the lock file (0 when it has not
 * yet). nicd fetches the serving process's device file this way (nic_handoff.h). */
#define SERVER_STANDBY_PREP_RETRY_MS 50
#define SERVER_STANDBY_PREP_RETRY_MAX_MS 1000
struct server_standby_prep {
	int (*fn)(void *arg, long holder);
	void *arg;
};

struct server_args {
	const char *instance;
	const char *config_path; /* NULL: the instance's default config path */
	bool standby; /* --standby: wait for the serving process of the layer to go, not refuse */
	struct server_standby_prep prep; /* set by the shell after parsing; fn NULL: none */
};

/* Parse "--instance NAME [--config PATH] [--standby] | --help" for program `prog`. Returns 0
 * to go on, SERVER_ARGS_HELP after printing the help (exit 0), or 2 after a usage error (exit
 * 2). */
#define SERVER_ARGS_HELP 1
int server_parse_args(int argc, char **argv, const char *prog, struct server_args *out);

/* Under a private `systemd --user` manager (it sets $MANAGERPID for its services), die with it:
 * without its manager nothing would restart or stop this layer, and `ustackctl down` ends an
 * instance by ending its manager. Exits at once if the manager is already gone. A no-op under
 * the system manager (PID 1 never exits). Call first thing in main. */
void server_follow_manager(void);

/* Defaults, then the config file. 0, or a negative errno after logging why. */
int server_load_config(const struct server_args *args, struct ustack_config *cfg);

/* Claim the layer for this process (flock on <runtime dir>/<layer>.lock, held until exit),
 * then attach or create the instance's pool as `self` and reclaim every buffer still held by
 * `self` (a previous process of this layer died holding it), their count in *reclaimed. While
 * another process holds the layer: without args->standby, -EBUSY, logged with its pid, before
 * anything is touched; with it, this process stands by (READY=1 with STATUS "standby for pid
 * N", the watchdog fed) until the serving one is gone, says STATUS "taking over from pid N",
 * and goes on: the layer's twin units run that way (docs/ARCHITECTURE.md, "Standby"). With
 * reclaimed NULL nothing is reclaimed: the caller calls server_reclaim_pool itself once it
 * knows nothing of its predecessor's can still use them (nicd: after its device open). 0 or a
 * negative errno, logged. */
int server_open_pool(const struct server_args *args, const struct ustack_config *cfg,
		     enum pool_holder self, struct pool **pool, uint64_t *reclaimed);
/* The claim alone (server_open_pool's first step), for tests: 0 once this process holds the
 * layer (its pid written into the lock file), -EBUSY without `standby` while another holds it,
 * or another negative errno; logged. `prep` (NULL: none) runs while standing by. */
int server_claim_layer(const char *instance, const char *layer, bool standby,
		       const struct server_standby_prep *prep);
/* Serving: log `status`, and READY=1 with it to systemd; after a takeover also how long the
 * start took once the lock was free. */
void server_ready(const char *status);
/* Give every buffer still held by `self` back to the pool (pool_reclaim), logging the count.
 * Returns the count. */
uint64_t server_reclaim_pool(struct pool *pool, enum pool_holder self);

#endif
