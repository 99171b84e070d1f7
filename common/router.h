/* router: the [identity][body] framing of requests on a ZeroMQ ROUTER socket, shared by every
 * request socket a server serves (ctl.c's <layer>.ctl, udpd's socket requests), so each checks
 * malformed framing the same way. */
#ifndef USTACK_ROUTER_H
#define USTACK_ROUTER_H

#include <stddef.h>
#include <stdint.h>

/* Receive one request without blocking; frames past the body are always drained.
 * Returns the body length (>= 0), with the sender's identity in ident[0..*ident_len);
 * -EAGAIN when nothing is waiting;
 * -ENOMSG when no usable identity came (a lone frame, or an identity above ident_max): there is
 *   nobody to answer, count and drop;
 * -EBADMSG when the identity is known but the body is missing, is followed by more frames, or
 *   is larger than body_max: answer with an error. */
int router_recv(void *sock, uint8_t *ident, size_t ident_max, size_t *ident_len, uint8_t *body,
		size_t body_max);

#endif
