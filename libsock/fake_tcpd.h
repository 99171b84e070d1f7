/* fake_tcpd: a stand-in for ustack-tcpd that serves libsock's stream sockets in a test, with
 * no TCP and no network underneath (a double at the edge, STYLE 18).
 *
 * It speaks the real contract (common/session.h for the handover, proto/sock.proto for requests,
 * common/region.h + stream_ring.h for the slot blocks and byte rings): a thread accepts the
 * session on <runtime dir>/tcpd.session, answers requests on tcpd.sock, and moves bytes between
 * the two ends of each "connection" inside the same region, from one slot's TX ring straight
 * into its peer slot's RX ring, acknowledging as it goes. It keeps the contract's rules the real
 * server must keep: slot blocks initialised at SOCKET/ACCEPT, the state bits and the error set
 * with the eventfd written, the RX eventfd written when the ring goes from empty to non-empty,
 * TX room given back with stream_ring_room_notify (and the eventfd when a producer armed),
 * tx_event/rx_event stored then the index looked at again before it sleeps, tx_push respected
 * (bytes above it are corked), slots released (REGION_SS_RELEASED) only once their TX ring has
 * drained after CLOSE. So it is also a reference for tcpd's side of the contract.
 *
 * Connections: CONNECT to a port some socket listens on (any address) queues the client on
 * that listener after connect_delay_ms; to any other port it is refused (ECONNREFUSED) after
 * the same delay, except FAKE_TCPD_PORT_SILENT, which never answers (a SYN into the void).
 * CLOSE with unread data or SO_LINGER 0 resets the peer (ECONNRESET); data sent to a peer that
 * is gone resets the sender.
 */
#ifndef FAKE_TCPD_H
#define FAKE_TCPD_H

#include <stdbool.h>
#include <stdint.h>

#define FAKE_TCPD_PORT_SILENT 9u

struct fake_tcpd;

/* Start a fake tcpd for `instance` in $USTACK_RUNTIME_DIR (which must exist). NULL on failure. */
struct fake_tcpd *fake_tcpd_start(const char *instance);
void fake_tcpd_stop(struct fake_tcpd **f);

/* Knobs (any thread). */
void fake_tcpd_set_connect_delay(struct fake_tcpd *f, unsigned ms);
/* Paused: no doorbell is taken and no byte moves (tcpd busy elsewhere); requests are still
 * answered. Returns once the change is in force (the fake has begun a new pass), so a test
 * needs no sleep to be sure of it. */
void fake_tcpd_pause(struct fake_tcpd *f, bool paused);

/* What it saw. */
uint64_t fake_tcpd_doorbells(struct fake_tcpd *f); /* doorbell writes taken (eventfd counts) */
uint64_t fake_tcpd_urgent(struct fake_tcpd *f); /* the last URGENT index, 0 none */
unsigned fake_tcpd_sessions(struct fake_tcpd *f); /* SESSION_NEW accepted */
/* Drop the session connection and forget the region, keeping the sockets: a tcpd restart whose
 * state survived. lose_state: forget the sockets too (libsock then gets ECONNABORTED). */
void fake_tcpd_restart(struct fake_tcpd *f, bool lose_state);
/* The next request of `op` (a Ustack__SockRequest__Op) finds the fake restarted, its state kept,
 * before it reads it, and is answered as a restarted tcpd answers a session not resumed yet:
 * a request queued in ZeroMQ when tcpd died, reaching the new process before libsock resumed. */
void fake_tcpd_restart_before(struct fake_tcpd *f, int op);
/* The next request of `op` is read and never answered, and the fake restarts (state kept) right
 * after reading it: tcpd killed with the request in flight. The copy libsock sends again after
 * resuming is answered as usual. */
void fake_tcpd_die_on(struct fake_tcpd *f, int op);

#endif
