/* state_segment: create, attach, validate and remove a server's named state segment.
 *
 * Where: "<layer>-state" in the instance's private shared-memory directory (shm_dir.h), which no
 * other local user can create things in or read.
 *
 * Creation follows the pool (pool.c): the creator wins open(O_CREAT|O_EXCL), sizes the
 * object (ftruncate zero-fills the payload), writes the header and release-stores the magic
 * LAST, so an attacher that acquire-loads the magic sees a complete header. An attacher that
 * finds no magic yet (or an object not yet sized) polls for STATE_SEGMENT_WAIT_MS: a creator
 * is at work. After that the object is taken for the remains of a creator that died part-way.
 *
 * Validation trusts nothing before checking it: owner and mode from fstat first (a segment
 * holds secrets: one that another uid made, or that others can read, is refused, never
 * adopted), then the magic, the header size, the payload's version, the layer, the payload size
 * and the object's real size, all before the payload is mapped. Anything that does not match
 * is "stale": logged, unlinked and created afresh, because what a server needs most after an
 * upgrade is to start; its clients resume or reconnect.
 */
#include "state_segment.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "shm_dir.h"

#define STATE_SEGMENT_MODE 0600
#define STATE_SEGMENT_WAIT_MS 500
#define STATE_SEGMENT_ATTEMPTS 8
#define STATE_SEGMENT_STALE 1 /* internal: attach found something to recreate */

struct state_segment {
	void *map;
	size_t map_len;
	struct state_segment_hdr *hdr;
};

static bool state_segment_layer_valid(const char *layer)
{
	if (!layer)
		return false;
	size_t n = strlen(layer);
	if (n == 0 || n > STATE_SEGMENT_LAYER_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((layer[i] >= 'a' && layer[i] <= 'z') || (layer[i] >= '0' && layer[i] <= '9')))
			return false;
	return true;
}

int state_segment_name(const char *instance, const char *layer, char *out, size_t size)
{
	if (!ustack_instance_valid(instance) || !state_segment_layer_valid(layer) || !out)
		return -EINVAL;
	int n = snprintf(out, size, "%s-state", layer);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int state_segment_path(const char *instance, const char *layer, char *out, size_t size)
{
	char name[STATE_SEGMENT_NAME_MAX];
	int rc = state_segment_name(instance, layer, name, sizeof(name));
	return rc < 0 ? rc : shm_obj_path(instance, name, out, size);
}

static void state_segment_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000L};
	nanosleep(&ts, NULL);
}

static int state_segment_create_fd(int fd, const char *layer, uint32_t version,
				   size_t payload_size, struct state_segment **out)
{
	size_t len = STATE_SEGMENT_HDR_SIZE + payload_size;
	if (ftruncate(fd, (off_t)len) < 0)
		return -errno;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	struct state_segment *seg = calloc(1, sizeof(*seg));
	if (!seg) {
		munmap(map, len);
		return -ENOMEM;
	}
	struct state_segment_hdr *h = map;
	h->hdr_size = STATE_SEGMENT_HDR_SIZE;
	h->version = version;
	h->payload_size = payload_size;
	h->generation = 1;
	snprintf(h->layer, sizeof(h->layer), "%s", layer);
	__atomic_store_n(&h->magic, STATE_SEGMENT_MAGIC, __ATOMIC_RELEASE);
	seg->map = map;
	seg->map_len = len;
	seg->hdr = h;
	*out = seg;
	return 0;
}

/* Attach fd as described in the file comment. 0; STATE_SEGMENT_STALE (logged: recreate it);
 * -EPERM (not ours to use or to remove); another negative errno. */
static int state_segment_attach_fd(int fd, const char *name, const char *layer,
				   uint32_t version, size_t payload_size,
				   struct state_segment **out)
{
	struct stat st;
	struct state_segment_hdr hdr;
	unsigned waited = 0;
	for (;;) {
		if (fstat(fd, &st) < 0)
			return -errno;
		if (st.st_uid != geteuid() || (st.st_mode & 077)) {
			log_err("state segment %s: owned by uid %u with mode %03o, expected uid %u "
				"and 600: refusing it", name, (unsigned)st.st_uid,
				(unsigned)(st.st_mode & 0777), (unsigned)geteuid());
			return -EPERM;
		}
		memset(&hdr, 0, sizeof(hdr));
		if (st.st_size >= (off_t)STATE_SEGMENT_HDR_SIZE) {
			void *m = mmap(NULL, STATE_SEGMENT_HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
			if (m == MAP_FAILED)
				return -errno;
			const struct state_segment_hdr *h = m;
			hdr.magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
			if (hdr.magic)
				memcpy(&hdr, h, sizeof(hdr));
			munmap(m, STATE_SEGMENT_HDR_SIZE);
		}
		if (hdr.magic != 0)
			break;
		if (waited >= STATE_SEGMENT_WAIT_MS) {
			log_warn("state segment %s: never completed by its creator: recreating it",
				 name);
			return STATE_SEGMENT_STALE;
		}
		state_segment_sleep_ms(10);
		waited += 10;
	}

	hdr.layer[sizeof(hdr.layer) - 1] = '\0';
	const char *why = NULL;
	if (hdr.magic != STATE_SEGMENT_MAGIC || hdr.hdr_size != STATE_SEGMENT_HDR_SIZE)
		why = "not a state segment of this format";
	else if (strcmp(hdr.layer, layer) != 0)
		why = "another layer's";
	else if (hdr.version != version)
		why = "another version";
	else if (hdr.payload_size != payload_size)
		why = "another payload size";
	else if ((uint64_t)st.st_size != STATE_SEGMENT_HDR_SIZE + (uint64_t)payload_size)
		why = "truncated or grown";
	if (why) {
		log_warn("state segment %s: %s (version %u, payload %llu bytes; want version %u, "
			 "%zu bytes): recreating it, its state is lost", name, why, hdr.version,
			 (unsigned long long)hdr.payload_size, version, payload_size);
		return STATE_SEGMENT_STALE;
	}

	size_t len = STATE_SEGMENT_HDR_SIZE + payload_size;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	struct state_segment *seg = calloc(1, sizeof(*seg));
	if (!seg) {
		munmap(map, len);
		return -ENOMEM;
	}
	seg->map = map;
	seg->map_len = len;
	seg->hdr = map;
	seg->hdr->generation++;
	*out = seg;
	return 0;
}

int state_segment_open(const char *instance, const char *layer, uint32_t version,
		       size_t payload_size, struct state_segment **out, bool *fresh)
{
	char name[STATE_SEGMENT_NAME_MAX];
	int rc = state_segment_name(instance, layer, name, sizeof(name));
	if (rc < 0)
		return rc;
	if (!out || !fresh || payload_size == 0 || payload_size > STATE_SEGMENT_PAYLOAD_MAX)
		return -EINVAL;

	char path[STATE_SEGMENT_NAME_MAX + 256];
	if (shm_obj_path(instance, name, path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "%s", name);

	/* The object may vanish between a failed O_EXCL and our open (`ustackctl down`, or a
	 * stale one we removed): retry a few times, then give up. */
	for (int attempt = 0; attempt < STATE_SEGMENT_ATTEMPTS; attempt++) {
		int fd = shm_obj_open(instance, name, O_RDWR | O_CREAT | O_EXCL, STATE_SEGMENT_MODE);
		if (fd >= 0) {
			rc = state_segment_create_fd(fd, layer, version, payload_size, out);
			close(fd);
			if (rc < 0) {
				shm_obj_unlink(instance, name); /* nobody must wait on a half-made one */
				return rc;
			}
			*fresh = true;
			return 0;
		}
		if (fd != -EEXIST)
			return fd;
		fd = shm_obj_open(instance, name, O_RDWR, 0);
		if (fd < 0) {
			if (fd == -ENOENT)
				continue;
			return fd == -EACCES ? -EPERM : fd;
		}
		rc = state_segment_attach_fd(fd, path, layer, version, payload_size, out);
		close(fd);
		if (rc == 0) {
			*fresh = false;
			return 0;
		}
		if (rc != STATE_SEGMENT_STALE)
			return rc;
		rc = shm_obj_unlink(instance, name);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	}
	return -EAGAIN;
}

void state_segment_close(struct state_segment **segp)
{
	struct state_segment *seg = *segp;
	if (!seg)
		return;
	munmap(seg->map, seg->map_len);
	free(seg);
	*segp = NULL;
}

int state_segment_unlink(const char *instance, const char *layer)
{
	char name[STATE_SEGMENT_NAME_MAX];
	int rc = state_segment_name(instance, layer, name, sizeof(name));
	if (rc < 0)
		return rc;
	return shm_obj_unlink(instance, name);
}

void *state_segment_payload(struct state_segment *seg)
{
	return (char *)seg->map + STATE_SEGMENT_HDR_SIZE;
}

size_t state_segment_payload_size(const struct state_segment *seg)
{
	return seg->map_len - STATE_SEGMENT_HDR_SIZE;
}

uint64_t state_segment_generation(const struct state_segment *seg)
{
	return seg->hdr->generation;
}
