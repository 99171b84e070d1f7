/* session: how an application hands its region to a transport server, and proves it owns it.
 *
 * A transport server maps an application's memory only when the application itself hands it
 * over as a file descriptor (docs/ARCHITECTURE.md, Security): the application connects to
 * <runtime dir>/<layer>.session (AF_UNIX, SOCK_SEQPACKET) and sends one struct session_hello
 * with SCM_RIGHTS carrying, in this order:
 *     [0] the region memfd (common/region.h; sealed against shrinking and growing),
 *     [1] the TX doorbell: an eventfd the application writes after producing TX records,
 *     [2 .. 2 + n_slots) one eventfd per region slot, which the server writes when it produced
 *         into that slot's RX ring (libsock hands it out as the socket's file descriptor, so
 *         poll() over stack sockets and ordinary descriptors is a plain poll()).
 * The server checks the peer's credentials (SO_PEERCRED), attaches the region
 * (region_attach), and answers with one struct session_welcome.
 *
 * SESSION_NEW creates a session: the server draws its id and a 16-byte secret from
 * getrandom(). Socket requests over ZeroMQ (proto/sock.proto) carry both; a request whose
 * session/secret does not match is refused with -EPERM, so one application can never name
 * another's sockets. SESSION_RESUME re-attaches an existing session after the server restarted
 * (its state segment kept the session and its sockets but not the descriptors): same uid as the
 * creator and the right secret are required.
 *
 * The SEQPACKET connection stays open for the life of the session. The server sees it close
 * when the application exits and closes the session's sockets; the application sees it close
 * when the server dies and resumes.
 */
#ifndef USTACK_SESSION_H
#define USTACK_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SESSION_MAGIC 0x55535353u /* "USSS" */
#define SESSION_VERSION 1u
#define SESSION_SECRET_LEN 16
#define SESSION_SLOTS_MAX 64 /* = REGION_SLOTS_MAX */
#define SESSION_FDS_MAX (2 + SESSION_SLOTS_MAX)

enum session_op {
	SESSION_NEW = 1,
	SESSION_RESUME = 2,
};

struct session_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t op;      /* enum session_op */
	uint32_t n_slots; /* slot eventfds that follow the region and the doorbell */
	uint64_t session; /* RESUME only */
	uint8_t secret[SESSION_SECRET_LEN]; /* RESUME only */
};
_Static_assert(sizeof(struct session_hello) == 40, "session_hello is a wire format");

struct session_welcome {
	uint32_t magic;
	uint32_t version;
	int32_t status; /* 0 or a negative errno */
	uint32_t reserved;
	uint64_t session;
	uint8_t secret[SESSION_SECRET_LEN];
};
_Static_assert(sizeof(struct session_welcome) == 40, "session_welcome is a wire format");

/* Path of a layer's session socket. 0 or negative errno. */
int session_path(const char *instance, const char *layer, char *out, size_t size);

/* Client: connect, send hello + fds, wait for the welcome (timeout_ms). On success *sock_fd is
 * the open session connection (keep it; its closing ends the session) and *welcome is filled.
 * -ECONNREFUSED/-ENOENT when the server is not there, -ETIMEDOUT, or welcome->status. */
int session_client_open(const char *instance, const char *layer, const struct session_hello *hello,
			const int *fds, unsigned n_fds, int timeout_ms, int *sock_fd,
			struct session_welcome *welcome);

/* Server: receive one hello with its fds from a freshly accepted connection, without blocking
 * for longer than timeout_ms. Fills *hello, fds[0..*n_fds) and the peer's credentials. Any
 * malformed message (wrong size, magic, version, fd count not 2 + n_slots, non-fd ancillary
 * data) → -EBADMSG, and every fd received is closed. fds must have room for SESSION_FDS_MAX. */
int session_server_recv(int conn_fd, int timeout_ms, struct session_hello *hello, int *fds,
			unsigned *n_fds, pid_t *pid, uid_t *uid);

/* Server: send the welcome. */
int session_server_send(int conn_fd, const struct session_welcome *welcome);

/* Gather every descriptor of every SCM_RIGHTS message of a received msg into fds (room for
 * max); *n is how many are now in fds (all of them the caller's to close; any beyond max were
 * closed here). Returns false if any control message is not SOL_SOCKET/SCM_RIGHTS. Also what
 * nicd's device handoff receives with (drivers/nic_handoff.c). */
struct msghdr;
bool session_collect_fds(struct msghdr *msg, int *fds, unsigned max, unsigned *n);

#endif
