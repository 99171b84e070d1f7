/* xport_icmp: the ICMP error ipd hands a transport (DESC_F_ICMP_ERROR: the descriptor's l4_off
 * is the ICMP header, the quoted datagram follows), split into its header and as much of the
 * quote as the transport reads (the quoted IP header and its own header), with every length
 * checked against the descriptor before a byte is copied.
 */
#include <errno.h>

#include "xport.h"

int xport_icmp_split(const struct buf *pkt, const struct desc *d, struct icmp_hdr *ih,
		     uint8_t *quoted, size_t quoted_max, size_t *quoted_len)
{
	if ((uint32_t)d->l4_off + ICMP_HDR_LEN > d->len ||
	    buf_copy_out(pkt, d->l4_off, ih, sizeof(*ih)) < 0)
		return -EBADMSG;
	size_t qlen = d->len - d->l4_off - ICMP_HDR_LEN;
	if (qlen > quoted_max)
		qlen = quoted_max;
	if (buf_copy_out(pkt, d->l4_off + ICMP_HDR_LEN, quoted, qlen) < 0)
		return -EBADMSG;
	*quoted_len = qlen;
	return 0;
}
