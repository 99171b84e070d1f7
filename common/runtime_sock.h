/* runtime_sock: the path-named sockets a server listens on in its instance's runtime directory
 * (its control socket, the descriptor links it receives on, the transports' request and session
 * sockets, nicd's hand-off and capture sockets), bound so that the name never goes missing.
 *
 * A server that takes over from a killed predecessor finds the dead one's socket file at the
 * path. Unlinking it and binding anew leaves a moment without any file there, and a client that
 * looks in that moment is told there is no server at all (`ustackctl` stat()s a control socket
 * before it asks, to say "not running" at once instead of after its timeout). A stale file
 * costs a client only a refused connect it retries. So the new socket is bound to a name of its
 * own beside the path (`<path>.<pid>.<n>.new`), given its mode there, and renamed over the path:
 * rename(2) replaces the old file atomically, and from that instant a connect reaches the new
 * listener. A listener with the wrong mode is never visible under the path either.
 *
 * Only the layer's lock holder calls these (a standby binds nothing before it has the lock), so
 * no two live servers ever race for one path, and the holder may unlink its path at exit.
 */
#ifndef USTACK_RUNTIME_SOCK_H
#define USTACK_RUNTIME_SOCK_H

#include <sys/types.h>

/* Bind the AF_UNIX socket fd to path (as above) with the file mode `mode`, listening with
 * `backlog` before the name is visible, so the first connect that finds it is queued. 0, or a
 * negative errno with nothing left at the temporary name and path untouched. */
int runtime_sock_listen_unix(int fd, const char *path, mode_t mode, int backlog);
/* The same for a ZeroMQ socket: its endpoint is "ipc://<path>" from then on. 0, or a negative
 * errno (zmq_bind's, chmod's or rename's) with path untouched. */
int runtime_sock_bind_zmq(void *sock, const char *path, mode_t mode);

#endif
