/* tundev: let the stack's user open the TUN/TAP clone device, /dev/net/tun.
 *
 * nicd runs as the stack's user with CAP_NET_ADMIN only. Attaching to the instance's TAP needs
 * that capability (the kernel checks it in TUNSETIFF), but first the clone device must open.
 * udev makes it mode 0666 on a Debian system; where no udev runs (containers, CI) it stays the
 * kernel's 0600 root, and nicd would need CAP_DAC_OVERRIDE — the power to open any file — just
 * for it. Instead, up adds one POSIX ACL entry: user:<stack user>:rw. Opening the clone device
 * grants nothing by itself (the capability check on the TAP remains), so this is the narrowest
 * grant that works. It stays until reboot: other instances use it too.
 *
 * The ACL is edited in its xattr form (system.posix_acl_access, Linux's
 * posix_acl_xattr_header/entry, little-endian), merging with any ACL already there, so no
 * library or setfacl is needed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "ustackctl.h"

#define TUN_DEV "/dev/net/tun"
#define ACL_XATTR "system.posix_acl_access"
#define ACL_XATTR_VERSION 2u
#define ACL_USER_OBJ 0x01u
#define ACL_USER 0x02u
#define ACL_GROUP_OBJ 0x04u
#define ACL_GROUP 0x08u
#define ACL_MASK 0x10u
#define ACL_OTHER 0x20u
#define ACL_UNDEFINED_ID 0xffffffffu
#define ACL_ENTRIES_MAX 64

struct tundev_acl_entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static void tundev_put(uint8_t *p, const struct tundev_acl_entry *e)
{
	p[0] = (uint8_t)e->tag;
	p[1] = (uint8_t)(e->tag >> 8);
	p[2] = (uint8_t)e->perm;
	p[3] = (uint8_t)(e->perm >> 8);
	for (int i = 0; i < 4; i++)
		p[4 + i] = (uint8_t)(e->id >> (8 * i));
}

static void tundev_get(const uint8_t *p, struct tundev_acl_entry *e)
{
	e->tag = (uint16_t)(p[0] | p[1] << 8);
	e->perm = (uint16_t)(p[2] | p[3] << 8);
	e->id = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
}

/* Entries must be sorted by tag, then id (the kernel refuses anything else). */
static int tundev_cmp(const struct tundev_acl_entry *a, const struct tundev_acl_entry *b)
{
	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

int tundev_allow_user(uid_t uid)
{
	struct stat sb;
	if (stat(TUN_DEV, &sb) < 0) {
		uctl_err("%s: %s (is the tun module loaded?)", TUN_DEV, strerror(errno));
		return -errno;
	}
	if ((sb.st_mode & 006) == 006 || sb.st_uid == uid)
		return 0; /* udev's 0666, or the user's own */

	struct tundev_acl_entry e[ACL_ENTRIES_MAX];
	size_t n = 0;
	uint8_t buf[4 + 8 * ACL_ENTRIES_MAX];
	ssize_t len = getxattr(TUN_DEV, ACL_XATTR, buf, sizeof(buf));
	if (len >= 4) {
		uint32_t ver = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
			       (uint32_t)buf[3] << 24;
		if (ver != ACL_XATTR_VERSION || (len - 4) % 8 != 0) {
			uctl_err("%s: an ACL of a format we do not know is set on it", TUN_DEV);
			return -EPROTO;
		}
		n = (size_t)(len - 4) / 8;
		for (size_t i = 0; i < n; i++)
			tundev_get(buf + 4 + 8 * i, &e[i]);
	} else {
		/* No ACL: the minimal one equivalent to the mode bits. */
		e[n++] = (struct tundev_acl_entry){ACL_USER_OBJ, (sb.st_mode >> 6) & 7, ACL_UNDEFINED_ID};
		e[n++] = (struct tundev_acl_entry){ACL_GROUP_OBJ, (sb.st_mode >> 3) & 7, ACL_UNDEFINED_ID};
		e[n++] = (struct tundev_acl_entry){ACL_OTHER, sb.st_mode & 7, ACL_UNDEFINED_ID};
	}
	bool have = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i].tag == ACL_USER && e[i].id == uid) {
			have = (e[i].perm & 6) == 6;
			e[i].perm |= 6;
		}
	}
	bool mask_ok = true;
	for (size_t i = 0; i < n; i++)
		if (e[i].tag == ACL_MASK && (e[i].perm & 6) != 6)
			mask_ok = false;
	if (have && mask_ok)
		return 0;
	if (!have) {
		bool listed = false;
		for (size_t i = 0; i < n; i++)
			listed = listed || (e[i].tag == ACL_USER && e[i].id == uid);
		if (!listed) {
			if (n + 2 > ACL_ENTRIES_MAX)
				return -E2BIG;
			e[n++] = (struct tundev_acl_entry){ACL_USER, 6, uid};
		}
	}
	/* The mask bounds every named entry and the owning group. */
	uint16_t mask = 0;
	bool has_mask = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i].tag == ACL_USER || e[i].tag == ACL_GROUP || e[i].tag == ACL_GROUP_OBJ)
			mask |= e[i].perm;
		has_mask = has_mask || e[i].tag == ACL_MASK;
	}
	/* An existing mask only gains rw (raising it further would widen other entries the
	 * admin masked down); a new one is the union. */
	if (!has_mask)
		e[n++] = (struct tundev_acl_entry){ACL_MASK, mask, ACL_UNDEFINED_ID};
	else
		for (size_t i = 0; i < n; i++)
			if (e[i].tag == ACL_MASK)
				e[i].perm |= 6;
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of entries */
		for (size_t j = i; j > 0 && tundev_cmp(&e[j], &e[j - 1]) < 0; j--) {
			struct tundev_acl_entry t = e[j];
			e[j] = e[j - 1];
			e[j - 1] = t;
		}
	buf[0] = ACL_XATTR_VERSION;
	buf[1] = buf[2] = buf[3] = 0;
	for (size_t i = 0; i < n; i++)
		tundev_put(buf + 4 + 8 * i, &e[i]);
	if (setxattr(TUN_DEV, ACL_XATTR, buf, 4 + 8 * n, 0) < 0) {
		int err = errno;
		uctl_err("cannot let user %u open %s (ACL): %s; make it mode 0666 as udev does",
			 (unsigned)uid, TUN_DEV, strerror(err));
		return -err;
	}
	fprintf(stderr, "ustackctl: %s: added ACL entry user:%u:rw for the stack's user (it still "
			"needs CAP_NET_ADMIN for the TAP)\n",
		TUN_DEV, (unsigned)uid);
	return 0;
}
