/* shm_dir: where an instance keeps its shared-memory objects (the pool, the state segments), so
 * that no other local user can create, squat or read them.
 *
 * Objects used to live directly in /dev/shm under predictable names: anyone may create files in
 * that sticky, world-writable directory, so a user who created /dev/shm/ustack-<instance>-pool
 * (mode 0666) before the stack started read and rewrote every packet. Now each instance has a
 * private directory made by mkdtemp(3) — /dev/shm/ustack-<instance>.XXXXXX, mode 0700, owned by
 * the stack's user, its name unguessable — and the one way to find it is the symlink
 * <runtime dir>/shm, which lives in the runtime directory only the stack's user (or root) can
 * write. Objects inside are opened with O_NOFOLLOW and checked (regular file, our uid, no access
 * for group or others) anyway.
 *
 * Why /dev/shm and not the runtime directory itself: /run is not a tmpfs on every machine (here it
 * is the root disk), and a file-backed pool would be written back to disk.
 *
 * The first process of an instance to need the directory makes it (any layer, or a test); a race
 * between two is settled by flock on the runtime directory. `ustackctl down` removes it with
 * shm_dir_remove. Every refusal is logged with the path and the reason.
 */
#ifndef USTACK_SHM_DIR_H
#define USTACK_SHM_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SHM_DIR_BASE "/dev/shm"
#define SHM_DIR_LINK "shm"   /* the symlink in the runtime directory */
#define SHM_OBJ_NAME_MAX 32u /* "pool", "<layer>-state" */

/* Open the instance's private directory (O_DIRECTORY | O_CLOEXEC), making it when `create` and
 * it is missing (or its link points nowhere). Returns the descriptor, or -ENOENT (missing and not
 * `create`), -EPERM (a directory or link that is not safely ours: logged with the reason),
 * -EINVAL (bad instance name), or another negative errno. */
int shm_dir_open(const char *instance, bool create);

/* openat(dir, name, flags | O_NOFOLLOW | O_CLOEXEC, mode) in the instance's directory (made if
 * flags has O_CREAT). An object that already existed is checked: a regular file owned by us with
 * no group/other permission bits, else -EPERM (logged, naming the file). Returns the fd or a
 * negative errno. name is 1..SHM_OBJ_NAME_MAX of [a-z0-9-]. */
int shm_obj_open(const char *instance, const char *name, int flags, mode_t mode);

/* Remove one object. 0, or -ENOENT if it (or the directory) is not there. */
int shm_obj_unlink(const char *instance, const char *name);

/* The object's path, for messages and tools (the directory's real name, or the link's path if
 * the directory is not there). 0 or negative errno. */
int shm_obj_path(const char *instance, const char *name, char *out, size_t size);

/* `ustackctl down`: remove every object, the directory and the link. 0, or -ENOENT if there was
 * nothing; other errors are logged and returned after removing what could be removed. */
int shm_dir_remove(const char *instance);

#endif
