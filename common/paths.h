/* paths: where an instance keeps its runtime files and its config.
 *
 * Runtime directory: $USTACK_RUNTIME_DIR/<instance> (default /run/ustack/<instance>): descriptor
 * link sockets, control sockets, the private systemd manager's files.
 * Config: $USTACK_CONF_DIR/<instance>.conf (default /etc/ustack/<instance>.conf).
 * Instance names are 1..32 characters of [A-Za-z0-9_-], so they are safe in paths, unit names and
 * shared-memory names alike.
 */
#ifndef USTACK_PATHS_H
#define USTACK_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#define USTACK_INSTANCE_MAX 32

bool ustack_instance_valid(const char *instance);
/* 0, -EINVAL (bad instance name) or -ENAMETOOLONG. */
int ustack_runtime_dir(const char *instance, char *out, size_t size);
int ustack_runtime_path(const char *instance, const char *file, char *out, size_t size);
int ustack_config_path(const char *instance, char *out, size_t size);
/* mkdir -p of the runtime directory (mode 0755). 0 or negative errno. */
int ustack_runtime_dir_create(const char *instance);

#endif
