/* sockopt: how Linux reads the value of an IP-level socket option (do_ip_setsockopt), in one
 * place for udpd, which applies the option, and libsock, which keeps the few it needs locally
 * (IP_MTU_DISCOVER, to refuse an oversized send at the call).
 *
 * An IP option's value is an int when optlen >= sizeof(int), else one unsigned byte when optlen
 * is 1..3 (BSD code passes a char for IP_MULTICAST_TTL and friends), else 0: an empty value is
 * "off", not an error, for the options that accept it.
 */
#ifndef USTACK_SOCKOPT_H
#define USTACK_SOCKOPT_H

#include <stddef.h>
#include <string.h>

static inline int sockopt_ip_int(const void *val, size_t len)
{
	int v = 0;

	if (len >= sizeof(int)) {
		memcpy(&v, val, sizeof(v));
	} else if (len >= 1) {
		unsigned char b;

		memcpy(&b, val, 1);
		v = b;
	}
	return v;
}

#endif
