/* netdev: the instance's network namespace and TAP device, made and removed with ip(8).
 *
 * The TAP is created persistent with a virtio-net header (`ip tuntap add ... mode tap
 * vnet_hdr`), matching how nicd's tap backend opens it (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * TUNSETPERSIST): the device and its kernel-side address outlive any nicd restart. The kernel
 * side gets the peer address, so the host (or the namespace) is the stack's neighbour.
 * ip(8) is used rather than netlink by hand: it is what an operator would type, and its error
 * messages are the ones they know.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ustackctl.h"

#define NETDEV_IP_TIMEOUT_MS 10000

bool netdev_netns_name_valid(const char *ns)
{
	size_t n = ns ? strlen(ns) : 0;
	if (n == 0 || n > UCTL_NETNS_MAX || strcmp(ns, ".") == 0 || strcmp(ns, "..") == 0 ||
	    ns[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = ns[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

bool netdev_netns_exists(const char *ns)
{
	char path[128];
	struct stat sb;
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	return stat(path, &sb) == 0;
}

/* Run `ip ARGS...`; on failure print "what: <ip's last stderr line>". */
static int netdev_ip(const char *what, const char *const *argv, bool quiet)
{
	char err[2048];
	struct run_spec rs = {
		.argv = argv,
		.timeout_ms = NETDEV_IP_TIMEOUT_MS,
		.err = err,
		.err_size = sizeof(err),
	};
	int rc = run_cmd(&rs);
	if (rc == 0)
		return 0;
	if (!quiet) {
		char cmd[256];
		run_format_argv(argv, cmd, sizeof(cmd));
		if (rc > 0)
			uctl_err("%s: '%s' failed: %s", what, cmd, run_last_line(err));
		else
			uctl_err("%s: '%s': %s", what, cmd, strerror(-rc));
	}
	return rc > 0 ? -EIO : rc;
}

int netdev_netns_add(const char *ns)
{
	const char *add[] = {"ip", "netns", "add", ns, NULL};
	int rc = netdev_ip("cannot create network namespace", add, false);
	if (rc < 0)
		return rc;
	const char *lo[] = {"ip", "-n", ns, "link", "set", "lo", "up", NULL};
	return netdev_ip("cannot bring up lo in the new namespace", lo, false);
}

int netdev_netns_del(const char *ns)
{
	const char *del[] = {"ip", "netns", "del", ns, NULL};
	return netdev_ip("cannot delete network namespace", del, false);
}

/* argv for `ip [-n NS] rest...` in out (at most 16 entries). */
static void netdev_argv(const char *ns, const char *const *rest, const char **out)
{
	size_t n = 0;
	out[n++] = "ip";
	if (ns && ns[0]) {
		out[n++] = "-n";
		out[n++] = ns;
	}
	for (const char *const *r = rest; *r && n < 15; r++)
		out[n++] = *r;
	out[n] = NULL;
}

bool netdev_link_exists(const char *ns, const char *ifname)
{
	const char *rest[] = {"link", "show", "dev", ifname, NULL};
	const char *argv[16];
	netdev_argv(ns, rest, argv);
	return netdev_ip("", argv, true) == 0;
}

int netdev_tap_create(const char *ns, const char *ifname, unsigned mtu, uint32_t peer,
		      uint8_t prefix)
{
	const char *argv[16];
	char mtu_s[16];
	snprintf(mtu_s, sizeof(mtu_s), "%u", mtu);
	/* An existing device is kept only if it is ours from an earlier run: `tuntap add` of a
	 * device that exists with the same flags succeeds, of anything else fails. */
	const char *add[] = {"tuntap", "add", "dev", ifname, "mode", "tap", "vnet_hdr", NULL};
	netdev_argv(ns, add, argv);
	int rc = netdev_ip("cannot create the TAP device", argv, false);
	if (rc < 0)
		return rc;
	const char *set[] = {"link", "set", "dev", ifname, "mtu", mtu_s, "up", NULL};
	netdev_argv(ns, set, argv);
	rc = netdev_ip("cannot configure the TAP device", argv, false);
	if (rc < 0 || peer == 0)
		return rc;
	char a[INET_ADDRSTRLEN], cidr[INET_ADDRSTRLEN + 4];
	struct in_addr in = {.s_addr = peer};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	snprintf(cidr, sizeof(cidr), "%s/%u", a, (unsigned)prefix);
	/* `replace` is idempotent: an address left from an earlier up is not an error. */
	const char *addr[] = {"addr", "replace", cidr, "dev", ifname, NULL};
	netdev_argv(ns, addr, argv);
	return netdev_ip("cannot give the TAP device its peer address", argv, false);
}

int netdev_link_del(const char *ns, const char *ifname)
{
	const char *argv[16];
	const char *del[] = {"link", "del", "dev", ifname, NULL};
	netdev_argv(ns, del, argv);
	return netdev_ip("cannot delete the TAP device", argv, false);
}

int netdev_netns_other_links(const char *ns, char *names, size_t size)
{
	char out[8192], err[1024];
	const char *argv[] = {"ip", "-n", ns, "-o", "link", "show", NULL};
	struct run_spec rs = {
		.argv = argv,
		.timeout_ms = NETDEV_IP_TIMEOUT_MS,
		.out = out,
		.out_size = sizeof(out),
		.err = err,
		.err_size = sizeof(err),
	};
	int rc = run_cmd(&rs);
	if (rc != 0)
		return rc > 0 ? -EIO : rc;
	/* Lines look like "2: ust-demo: <BROADCAST,...> ..." or "3: veth0@if4: <...". */
	int n = 0;
	size_t len = 0;
	names[0] = '\0';
	char *save = NULL;
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *name = strstr(line, ": ");
		if (!name)
			continue;
		name += 2;
		size_t nl = strcspn(name, ":@");
		if (nl == 2 && strncmp(name, "lo", 2) == 0)
			continue;
		int w = snprintf(names + len, size - len, "%s%.*s", n ? " " : "", (int)nl, name);
		if (w > 0 && (size_t)w < size - len)
			len += (size_t)w;
		n++;
	}
	return n;
}
