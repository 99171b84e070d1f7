/* helper_shm: a private place for a test's named shared-memory objects.
 *
 * tshm_begin() points USTACK_RUNTIME_DIR at a fresh mkdtemp directory and names an instance after
 * the calling process; everything the test then creates by name (pool, state segments) lands in
 * that instance's private shared-memory directory (shm_dir.h). tshm_end() removes the objects, the
 * directory in /dev/shm, and the runtime directory, so a test leaves nothing behind.
 * tshm_raw_open() opens an object by path, past every check, for tests that play the attacker or
 * corrupt an object on purpose. All helpers ck_assert on failure.
 */
#ifndef USTACK_HELPER_SHM_H
#define USTACK_HELPER_SHM_H

#include <stddef.h>
#include <sys/types.h>

/* Fill instance[size] with "<prefix><pid>-<n>" and set up the runtime directory. */
void tshm_begin(const char *prefix, char *instance, size_t size);
/* Remove everything of instance and the runtime directory. */
void tshm_end(const char *instance);
/* open(2) of the object `name` of instance (in its private directory, made if missing). */
int tshm_raw_open(const char *instance, const char *name, int flags, mode_t mode);

#endif
