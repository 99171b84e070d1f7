/* fake_tcpd: a stand-in for ustack-tcpd in libsock's tests (see fake_tcpd.h).
 *
 * One thread, one loop: zmq_poll over the request ROUTER, the session listener, the session
 * connection, the doorbell and a control eventfd, with a 2 ms tick for delayed connects. Every
 * pass ends with the data pump and the doorbell-event protocol (store tx_event and rx_event,
 * fence, look at the indices again, pump again if they moved), as tcpd must before it sleeps.
 * The knobs and counters the test thread reads are under `lock`; everything else belongs to
 * the loop's thread.
 */
#include "fake_tcpd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "paths.h"
#include "region.h"
#include "router.h"
#include "session.h"
#include "sock.pb-c.h"
#include "stream_ring.h"

#define FT_SLOTS ((int)REGION_SLOTS_MAX)
#define FT_BACKLOG_MAX 64
#define FT_REPLY_CACHE 16

struct ft_sock {
	bool open;          /* the application's socket is in this slot */
	bool busy;          /* the slot is the server's (open, or an orphan not yet released) */
	uint32_t sid;
	bool listening;
	int backlog;
	int queue[FT_BACKLOG_MAX]; /* listener: client slots waiting for ACCEPT */
	int n_queue;
	uint32_t laddr, raddr;   /* network order */
	uint16_t lport, rport;   /* host order */
	int peer;                /* slot of the other end, -1 none */
	bool peer_gone;          /* it was released: what we send now gets a reset */
	int listener;            /* client: the listener it is queued on, -1 none */
	bool connecting;
	bool connected_once;     /* Linux's listen() refuses a socket that tried to connect */
	uint64_t connect_due;    /* ms */
	bool wr_shut;            /* FIN after the queued data */
	bool fin_sent;
	bool orphan;             /* closed by the application: release once drained */
	bool linger_on;
	int linger_s;
	uint32_t sndbuf;
	int nodelay;
};

struct ft_reply_rec {
	uint64_t id;
	size_t len;
	uint8_t body[1024];
};

struct fake_tcpd {
	char instance[64];
	void *zctx;
	void *router;
	int listen_fd;
	int conn_fd;
	int ctl_fd;
	pthread_t thread;
	bool stop;

	/* the session */
	bool attached;
	struct region region;
	int doorbell_fd;
	int slot_fd[FT_SLOTS];
	uint64_t session;
	uint8_t secret[SESSION_SECRET_LEN];
	struct ft_reply_rec cache[FT_REPLY_CACHE];
	unsigned cache_next;

	struct ft_sock s[FT_SLOTS];
	uint32_t next_sid;
	uint16_t next_port;

	pthread_mutex_t lock; /* the knobs and counters below */
	unsigned connect_delay_ms;
	bool paused;
	uint64_t passes;      /* loop passes begun: fake_tcpd_pause waits for the next one */
	pthread_cond_t passed;
	uint64_t doorbells;
	uint64_t urgent; /* the last URGENT index */
	unsigned sessions;
	int restart_req; /* 0, 1 keep state, 2 lose state */
	int restart_before_op; /* fake_tcpd_restart_before; -1 none */
	int die_on_op;         /* fake_tcpd_die_on; -1 none */
};

static uint64_t ft_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ft_efd_write(int fd)
{
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* saturated */
	}
}

static struct region_stream_ctl *ft_ctl(struct fake_tcpd *f, int slot)
{
	return region_stream_slot(&f->region, (uint32_t)slot);
}

static struct stream_ring *ft_tx(struct fake_tcpd *f, int slot)
{
	return region_stream_tx(&f->region, (uint32_t)slot);
}

static struct stream_ring *ft_rx(struct fake_tcpd *f, int slot)
{
	return region_stream_rx(&f->region, (uint32_t)slot);
}

/* Change a slot's state bits the contract's way: fields first, state (release), seq, then the
 * wake-ups (the eventfd, and the TX ring's futex for blocked senders). */
static void ft_state(struct fake_tcpd *f, int slot, uint32_t set, uint32_t clear)
{
	if (!f->attached)
		return;
	struct region_stream_ctl *c = ft_ctl(f, slot);
	uint32_t st = atomic_load(&c->state);
	atomic_store_explicit(&c->state, (st & ~clear) | set, memory_order_release);
	atomic_fetch_add(&c->seq, 1);
	ft_efd_write(f->slot_fd[slot]);
	stream_ring_room_notify(ft_tx(f, slot));
}

static void ft_error(struct fake_tcpd *f, int slot, int err, uint32_t set, uint32_t clear)
{
	atomic_store_explicit(&ft_ctl(f, slot)->error, (uint32_t)err, memory_order_release);
	ft_state(f, slot, set | REGION_SS_ERROR, clear);
}

/* The connection of `slot` is over (reset, refused): Linux's tcp_done. */
static void ft_kill(struct fake_tcpd *f, int slot, int err)
{
	struct ft_sock *k = &f->s[slot];
	k->connecting = false;
	k->peer = -1;
	/* tcp_reset: a reset in CLOSE-WAIT (the peer's FIN was in) is EPIPE, not ECONNRESET */
	if (err == ECONNRESET && (atomic_load(&ft_ctl(f, slot)->state) & REGION_SS_RD_EOF))
		err = EPIPE;
	uint32_t set = REGION_SS_CLOSED | REGION_SS_RD_CLOSED | REGION_SS_WR_CLOSED | REGION_SS_HUP;
	if (err)
		ft_error(f, slot, err, set, REGION_SS_CONNECTING);
	else
		ft_state(f, slot, set, REGION_SS_CONNECTING);
	/* nothing more will be sent from the TX ring: all of it is "acknowledged" */
	uint64_t head;
	if (stream_ring_head_now(ft_tx(f, slot), &head) == 0)
		stream_ring_publish_tail(ft_tx(f, slot), head);
}

static void ft_release(struct fake_tcpd *f, int slot)
{
	struct ft_sock *k = &f->s[slot];
	if (k->peer >= 0) {
		f->s[k->peer].peer = -1;
		f->s[k->peer].peer_gone = true;
		k->peer = -1;
	}
	uint64_t head;
	if (stream_ring_head_now(ft_tx(f, slot), &head) == 0)
		stream_ring_publish_tail(ft_tx(f, slot), head);
	k->busy = false;
	k->orphan = false;
	k->open = false;
	ft_state(f, slot, REGION_SS_RELEASED, 0);
}

/* A fresh socket in `slot`: the block initialised (CLOSED), the doorbell events at the current
 * indices (any new byte, any read is heard of). */
static void ft_init_slot(struct fake_tcpd *f, int slot, uint32_t state)
{
	struct region_stream_ctl *c = ft_ctl(f, slot);
	atomic_store(&c->error, 0);
	atomic_store(&c->eof_at, 0);
	atomic_store(&c->acceptq, 0);
	atomic_store(&c->sndbuf, 0);
	atomic_store(&c->tx_event, stream_ring_head(ft_tx(f, slot)));
	atomic_store(&c->rx_event, stream_ring_tail(ft_rx(f, slot)));
	atomic_store_explicit(&c->state, state, memory_order_release);
	atomic_fetch_add(&c->seq, 1);
	struct ft_sock *k = &f->s[slot];
	memset(k, 0, sizeof(*k));
	k->open = k->busy = true;
	k->sid = ++f->next_sid;
	k->peer = k->listener = -1;
}

static int ft_find(struct fake_tcpd *f, uint32_t sid, uint32_t slot)
{
	if (slot >= FT_SLOTS || !f->s[slot].open || f->s[slot].sid != sid)
		return -1;
	return (int)slot;
}

/* ---- the data pump ---- */

/* Move what a may send (below its tx_push) into its peer's RX ring, as much as fits. Returns
 * whether anything moved. */
static bool ft_pump_one(struct fake_tcpd *f, int a)
{
	struct ft_sock *ka = &f->s[a];
	struct stream_ring *tx = ft_tx(f, a);
	if (ka->peer < 0) {
		/* data to a socket that is gone: its RST */
		if (ka->peer_gone && stream_ring_readable(tx) > 0) {
			ka->peer_gone = false;
			ft_kill(f, a, ECONNRESET);
			return true;
		}
		return false;
	}
	int b = ka->peer;
	struct stream_ring *rx = ft_rx(f, b);
	int64_t avail = stream_ring_readable(tx);
	if (avail < 0)
		return false;
	uint64_t tail = stream_ring_tail(tx), head = tail + (uint64_t)avail;
	uint64_t push = atomic_load_explicit(&ft_ctl(f, a)->tx_push, memory_order_acquire);
	if (push - tail > head - tail || ka->orphan)
		push = head; /* not in [tail, head] (or closed): nothing is corked */
	uint64_t n = push - tail;
	bool moved = false;
	int64_t room = stream_ring_writable(rx);
	if (room > 0 && n > 0) {
		if (n > (uint64_t)room)
			n = (uint64_t)room;
		uint64_t rhead = stream_ring_head(rx);
		uint8_t buf[16384];
		for (uint64_t done = 0; done < n;) {
			size_t k = n - done < sizeof(buf) ? (size_t)(n - done) : sizeof(buf);
			stream_ring_read_at(tx, tail + done, buf, k);
			stream_ring_write_at(rx, rhead + done, buf, k);
			done += k;
		}
		/* "acknowledged" at once, and before the peer can see the bytes, as loopback TCP
		 * has processed the ACK by the time its send returns: a reader woken by them never
		 * finds them still in the sender's queue (SIOCOUTQ) */
		stream_ring_publish_tail(tx, tail + n);
		stream_ring_publish_head(rx, rhead + n);
		/* Every publish wakes, as tcpd's does: waking only when the ring looked empty
		 * before the copy lost a wake-up to a reader that emptied it meanwhile and then,
		 * finding nothing, drained the eventfd (sock_stream_settle). */
		ft_efd_write(f->slot_fd[b]);
		if (stream_ring_room_notify(tx))
			ft_efd_write(f->slot_fd[a]); /* a poller or sender armed for room */
		moved = true;
		tail += n;
	}
	/* The FIN follows the data. Once both ways are finished the connection is over (TIME-WAIT
	 * or CLOSED: Linux's socket is TCP_CLOSE then). */
	if (ka->wr_shut && !ka->fin_sent && tail == head && f->s[b].busy) {
		ka->fin_sent = true;
		struct region_stream_ctl *cb = ft_ctl(f, b);
		atomic_store_explicit(&cb->eof_at, stream_ring_head(rx), memory_order_release);
		ft_state(f, b, REGION_SS_RD_EOF, 0);
		if (f->s[b].fin_sent) {
			ft_state(f, a, REGION_SS_CLOSED | REGION_SS_HUP, 0);
			ft_state(f, b, REGION_SS_CLOSED | REGION_SS_HUP, 0);
		}
		moved = true;
	}
	if (ka->orphan && ka->fin_sent && tail == head) {
		ft_release(f, a);
		moved = true;
	}
	return moved;
}

static bool ft_paused(struct fake_tcpd *f)
{
	pthread_mutex_lock(&f->lock);
	bool p = f->paused;
	pthread_mutex_unlock(&f->lock);
	return p;
}

/* Pump until nothing moves, then the event protocol: store the events, fence, look again. */
static void ft_pump(struct fake_tcpd *f)
{
	if (!f->attached || ft_paused(f))
		return;
	for (int round = 0; round < 1000; round++) {
		bool moved = false;
		for (int a = 0; a < FT_SLOTS; a++)
			if (f->s[a].busy)
				moved |= ft_pump_one(f, a);
		if (moved)
			continue;
		/* Nothing moves: before sleeping, ask to hear of any new TX byte and any read, then
		 * look once more (tcpd's side of the doorbell protocol, region.h). */
		uint64_t tx_seen[FT_SLOTS], rx_seen[FT_SLOTS];
		for (int a = 0; a < FT_SLOTS; a++) {
			if (!f->s[a].busy)
				continue;
			struct region_stream_ctl *c = ft_ctl(f, a);
			tx_seen[a] = stream_ring_head(ft_tx(f, a));
			stream_ring_head_now(ft_tx(f, a), &tx_seen[a]);
			rx_seen[a] = stream_ring_tail(ft_rx(f, a));
			stream_ring_tail_now(ft_rx(f, a), &rx_seen[a]);
			atomic_store(&c->tx_event, tx_seen[a]);
			atomic_store(&c->rx_event, rx_seen[a]);
		}
		atomic_thread_fence(memory_order_seq_cst);
		bool again = false;
		for (int a = 0; a < FT_SLOTS; a++) {
			if (!f->s[a].busy)
				continue;
			uint64_t h = tx_seen[a], t = rx_seen[a];
			stream_ring_head_now(ft_tx(f, a), &h);
			stream_ring_tail_now(ft_rx(f, a), &t);
			again |= h != tx_seen[a] || t != rx_seen[a];
		}
		if (!again)
			return;
	}
}

/* ---- connections ---- */

static int ft_find_listener(struct fake_tcpd *f, uint16_t port)
{
	for (int i = 0; i < FT_SLOTS; i++)
		if (f->s[i].open && f->s[i].listening && f->s[i].lport == port)
			return i;
	return -1;
}

static void ft_connect_done(struct fake_tcpd *f, int c)
{
	struct ft_sock *k = &f->s[c];
	k->connecting = false;
	int l = ft_find_listener(f, k->rport);
	if (l < 0 || f->s[l].n_queue >= f->s[l].backlog + 1 || f->s[l].n_queue >= FT_BACKLOG_MAX) {
		ft_kill(f, c, ECONNREFUSED);
		return;
	}
	struct ft_sock *kl = &f->s[l];
	kl->queue[kl->n_queue++] = c;
	k->listener = l;
	ft_state(f, c, REGION_SS_CONNECTED, REGION_SS_CONNECTING);
	atomic_store(&ft_ctl(f, l)->acceptq, (uint32_t)kl->n_queue);
	ft_state(f, l, 0, 0);
}

static void ft_timers(struct fake_tcpd *f)
{
	uint64_t now = ft_now_ms();
	for (int i = 0; i < FT_SLOTS; i++) {
		struct ft_sock *k = &f->s[i];
		if (k->open && k->connecting && k->rport != FAKE_TCPD_PORT_SILENT &&
		    now >= k->connect_due)
			ft_connect_done(f, i);
	}
}

/* Remove client c from its listener's queue. */
static void ft_unqueue(struct fake_tcpd *f, int c)
{
	int l = f->s[c].listener;
	if (l < 0)
		return;
	struct ft_sock *kl = &f->s[l];
	for (int i = 0; i < kl->n_queue; i++) {
		if (kl->queue[i] == c) {
			memmove(&kl->queue[i], &kl->queue[i + 1],
				(size_t)(kl->n_queue - i - 1) * sizeof(int));
			kl->n_queue--;
			break;
		}
	}
	f->s[c].listener = -1;
	atomic_store(&ft_ctl(f, l)->acceptq, (uint32_t)kl->n_queue);
	ft_state(f, l, 0, 0);
}

static void ft_stop_listening(struct fake_tcpd *f, int l)
{
	struct ft_sock *kl = &f->s[l];
	while (kl->n_queue > 0) {
		int c = kl->queue[0];
		ft_unqueue(f, c);
		ft_kill(f, c, ECONNRESET);
	}
	kl->listening = false;
	ft_state(f, l, REGION_SS_CLOSED, REGION_SS_LISTENING);
}

/* The application is done with `slot` (CLOSE), or reset it (DISCONNECT, abort). */
static void ft_close(struct fake_tcpd *f, int slot, bool abort)
{
	struct ft_sock *k = &f->s[slot];
	if (k->listening) {
		ft_stop_listening(f, slot);
		ft_release(f, slot);
		return;
	}
	ft_unqueue(f, slot);
	int64_t unread = stream_ring_readable(ft_rx(f, slot));
	bool reset = abort || unread > 0 || (k->linger_on && k->linger_s == 0);
	if (k->peer >= 0 && reset) {
		int p = k->peer;
		f->s[p].peer = -1;
		ft_kill(f, p, ECONNRESET);
		k->peer = -1;
	}
	if (k->peer < 0 || reset) {
		ft_release(f, slot);
		return;
	}
	/* FIN after the queued data (all of it pushed); released once it all went */
	k->wr_shut = true;
	k->open = false;
	k->orphan = true;
}

/* ---- requests ---- */

static int ft_opt_int(const Ustack__SockRequest *q, int *v)
{
	if (q->optval.len < sizeof(int))
		return -EINVAL;
	memcpy(v, q->optval.data, sizeof(int));
	return 0;
}

static int ft_setopt(struct fake_tcpd *f, int slot, const Ustack__SockRequest *q)
{
	struct ft_sock *k = &f->s[slot];
	int v;
	if (q->level == SOL_SOCKET && q->optname == SO_SNDBUF) {
		if (ft_opt_int(q, &v) < 0)
			return -EINVAL;
		/* the fake keeps it simple: the value is the limit, at least 4096 */
		k->sndbuf = v < 4096 ? 4096u : (uint32_t)v;
		atomic_store(&ft_ctl(f, slot)->sndbuf, k->sndbuf);
		return 0;
	}
	if (q->level == SOL_SOCKET && q->optname == SO_LINGER) {
		struct linger lg;
		if (q->optval.len < sizeof(lg))
			return -EINVAL;
		memcpy(&lg, q->optval.data, sizeof(lg));
		k->linger_on = lg.l_onoff != 0;
		k->linger_s = lg.l_linger;
		return 0;
	}
	if (q->level == IPPROTO_TCP && (q->optname == TCP_NODELAY || q->optname == TCP_CORK)) {
		if (ft_opt_int(q, &v) < 0)
			return -EINVAL;
		k->nodelay = v;
		return 0;
	}
	if (q->level == SOL_SOCKET && (q->optname == SO_REUSEADDR || q->optname == SO_KEEPALIVE))
		return 0;
	return -ENOPROTOOPT;
}

static int ft_getopt(struct fake_tcpd *f, int slot, const Ustack__SockRequest *q, uint8_t *out,
		     size_t *len)
{
	struct ft_sock *k = &f->s[slot];
	struct region_stream_ctl *c = ft_ctl(f, slot);
	int v;
	if (q->level == SOL_SOCKET && q->optname == SO_ERROR) {
		v = (int)atomic_exchange(&c->error, 0);
		if (v)
			ft_state(f, slot, 0, REGION_SS_ERROR);
	} else if (q->level == SOL_SOCKET && q->optname == SO_TYPE) {
		v = SOCK_STREAM;
	} else if (q->level == SOL_SOCKET && q->optname == SO_ACCEPTCONN) {
		v = k->listening;
	} else if (q->level == SOL_SOCKET && q->optname == SO_SNDBUF) {
		v = (int)(k->sndbuf ? k->sndbuf : ft_tx(f, slot)->size);
	} else if (q->level == IPPROTO_TCP && q->optname == TCP_NODELAY) {
		v = k->nodelay;
	} else if (q->level == IPPROTO_TCP && q->optname == TCP_INFO) {
		struct tcp_info ti;
		memset(&ti, 0, sizeof(ti));
		ti.tcpi_state = k->peer >= 0 ? 1 /* TCP_ESTABLISHED */ : 7 /* TCP_CLOSE */;
		ti.tcpi_snd_mss = 1460;
		ti.tcpi_rcv_mss = 1460;
		ti.tcpi_rtt = 42;
		size_t n = q->optval.len < sizeof(ti) ? q->optval.len : sizeof(ti);
		memcpy(out, &ti, n);
		*len = n;
		return 0;
	} else {
		return -ENOPROTOOPT;
	}
	size_t n = q->optval.len < sizeof(v) ? q->optval.len : sizeof(v);
	memcpy(out, &v, n);
	*len = n;
	return 0;
}

/* Send r; an answer to a request acted on is also remembered, so a re-sent id is answered
 * from it. One not acted on (not attached, not authenticated) is forgotten, as the server
 * forgets it, so the same id is acted on once the session is back. */
static void ft_reply(struct fake_tcpd *f, const uint8_t *ident, size_t ident_len,
		     const Ustack__SockReply *r, bool remember)
{
	struct ft_reply_rec scratch, *rec = &scratch;
	if (remember)
		rec = &f->cache[f->cache_next++ % FT_REPLY_CACHE];
	rec->id = r->id;
	rec->len = ustack__sock_reply__get_packed_size(r);
	if (rec->len > sizeof(rec->body)) {
		rec->len = 0;
		return;
	}
	ustack__sock_reply__pack(r, rec->body);
	zmq_send(f->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
	zmq_send(f->router, rec->body, rec->len, ZMQ_DONTWAIT);
}

static int ft_request(struct fake_tcpd *f, const Ustack__SockRequest *q, Ustack__SockReply *r,
		      uint8_t *optbuf)
{
	int slot = ft_find(f, q->sid, q->slot);
	struct ft_sock *k = slot >= 0 ? &f->s[slot] : NULL;
	struct region_stream_ctl *c = slot >= 0 ? ft_ctl(f, slot) : NULL;
	uint32_t st = c ? atomic_load(&c->state) : 0;
	size_t optlen = 0;
	int rc = 0;
	switch (q->op) {
	case USTACK__SOCK_REQUEST__OP__SOCKET:
		if (q->type != SOCK_STREAM || q->slot >= f->region.n_slots)
			return -EINVAL;
		if (f->s[q->slot].busy)
			return -EBUSY;
		ft_init_slot(f, (int)q->slot, REGION_SS_CLOSED);
		r->sid = f->s[q->slot].sid;
		return 0;
	default:
		break;
	}
	if (!k)
		return -EBADF;
	switch (q->op) {
	case USTACK__SOCK_REQUEST__OP__BIND:
		if (k->lport)
			return -EINVAL;
		for (int i = 0; i < FT_SLOTS; i++)
			if (q->port && f->s[i].busy && f->s[i].lport == q->port)
				return -EADDRINUSE;
		k->laddr = q->addr;
		k->lport = q->port ? (uint16_t)q->port : f->next_port++;
		r->addr = k->laddr;
		return 0;
	case USTACK__SOCK_REQUEST__OP__LISTEN:
		if (!(st & (REGION_SS_CLOSED | REGION_SS_LISTENING)) || k->connected_once)
			return -EINVAL;
		if (!k->lport)
			k->lport = f->next_port++;
		k->listening = true;
		k->backlog = q->backlog;
		r->sid = k->sid;
		ft_state(f, slot, REGION_SS_LISTENING, REGION_SS_CLOSED);
		return 0;
	case USTACK__SOCK_REQUEST__OP__CONNECT: {
		if (k->listening || (st & REGION_SS_CONNECTED && !(st & REGION_SS_CLOSED)))
			return -EISCONN;
		if (k->connecting)
			return -EALREADY;
		if (q->addr == 0)
			return -ENETUNREACH;
		if (!k->lport)
			k->lport = f->next_port++;
		if (!k->laddr)
			k->laddr = htonl(INADDR_LOOPBACK);
		k->raddr = q->addr;
		k->rport = (uint16_t)q->port;
		k->connecting = true;
		k->connected_once = true;
		k->fin_sent = k->wr_shut = false;
		pthread_mutex_lock(&f->lock);
		k->connect_due = ft_now_ms() + f->connect_delay_ms;
		pthread_mutex_unlock(&f->lock);
		atomic_store(&c->error, 0);
		ft_state(f, slot, REGION_SS_CONNECTING,
			 REGION_SS_CLOSED | REGION_SS_ERROR | REGION_SS_RD_CLOSED |
				 REGION_SS_WR_CLOSED | REGION_SS_HUP | REGION_SS_RD_EOF |
				 REGION_SS_CONNECTED);
		r->addr = k->laddr;
		return 0;
	}
	case USTACK__SOCK_REQUEST__OP__DISCONNECT:
		if (k->listening) {
			ft_stop_listening(f, slot);
		} else if (k->peer >= 0 || k->connecting) {
			ft_unqueue(f, slot);
			if (k->peer >= 0) {
				f->s[k->peer].peer = -1;
				ft_kill(f, k->peer, ECONNRESET);
			}
			k->peer = -1;
			k->connecting = false;
		}
		atomic_store(&c->error, 0);
		ft_state(f, slot, REGION_SS_CLOSED, ~REGION_SS_CLOSED);
		return 0;
	case USTACK__SOCK_REQUEST__OP__SHUTDOWN:
		if (k->listening) {
			if (q->how != SHUT_WR)
				ft_stop_listening(f, slot);
			return 0;
		}
		if (k->connecting) {
			ft_unqueue(f, slot);
			k->connecting = false;
			ft_state(f, slot, REGION_SS_CLOSED, REGION_SS_CONNECTING);
			return 0;
		}
		if (st & REGION_SS_CLOSED)
			return -ENOTCONN;
		if (q->how != SHUT_RD && !k->wr_shut) {
			k->wr_shut = true;
			uint32_t set = REGION_SS_WR_CLOSED;
			if (st & REGION_SS_RD_EOF)
				set |= REGION_SS_HUP;
			ft_state(f, slot, set, 0);
		}
		return 0;
	case USTACK__SOCK_REQUEST__OP__URGENT:
		{
			/* just past a byte the application published, not acknowledged yet or
			 * just now: anything else is a lie */
			uint64_t head = 0;
			stream_ring_head_now(ft_tx(f, slot), &head);
			if (q->index > head || head - q->index > ft_tx(f, slot)->size)
				return -EINVAL;
		}
		pthread_mutex_lock(&f->lock);
		f->urgent = q->index;
		pthread_mutex_unlock(&f->lock);
		return 0;
	case USTACK__SOCK_REQUEST__OP__CLOSE:
		ft_close(f, slot, false);
		return 0;
	case USTACK__SOCK_REQUEST__OP__SETOPT:
		return ft_setopt(f, slot, q);
	case USTACK__SOCK_REQUEST__OP__GETOPT:
		rc = ft_getopt(f, slot, q, optbuf, &optlen);
		r->optval.data = optbuf;
		r->optval.len = optlen;
		return rc;
	case USTACK__SOCK_REQUEST__OP__GETSOCKNAME:
		r->addr = k->laddr;
		r->port = k->lport;
		return 0;
	case USTACK__SOCK_REQUEST__OP__GETPEERNAME:
		if (k->peer < 0 || (st & REGION_SS_CLOSED) || k->connecting)
			return -ENOTCONN;
		r->addr = k->raddr;
		r->port = k->rport;
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int ft_accept(struct fake_tcpd *f, const Ustack__SockRequest *q, Ustack__SockReply *r)
{
	int l = -1;
	for (int i = 0; i < FT_SLOTS; i++)
		if (f->s[i].open && f->s[i].sid == q->sid)
			l = i;
	if (l < 0)
		return -EBADF;
	struct ft_sock *kl = &f->s[l];
	if (!kl->listening)
		return -EINVAL;
	if (kl->n_queue == 0)
		return -EAGAIN;
	if (q->slot >= f->region.n_slots)
		return -EINVAL;
	if (f->s[q->slot].busy)
		return -EBUSY;
	int c = kl->queue[0];
	ft_unqueue(f, c);
	int n = (int)q->slot;
	ft_init_slot(f, n, REGION_SS_CONNECTED);
	struct ft_sock *kn = &f->s[n];
	kn->laddr = f->s[c].raddr;
	kn->lport = kl->lport;
	kn->raddr = f->s[c].laddr;
	kn->rport = f->s[c].lport;
	kn->peer = c;
	f->s[c].peer = n;
	r->sid = kn->sid;
	r->addr = kn->laddr;
	r->port = kn->lport;
	r->peer_addr = kn->raddr;
	r->peer_port = kn->rport;
	return 0;
}

static void ft_detach(struct fake_tcpd *f, bool lose_state)
{
	if (f->conn_fd >= 0)
		close(f->conn_fd);
	f->conn_fd = -1;
	if (f->attached) {
		region_detach(&f->region);
		close(f->doorbell_fd);
		for (int i = 0; i < FT_SLOTS; i++) {
			if (f->slot_fd[i] >= 0)
				close(f->slot_fd[i]);
			f->slot_fd[i] = -1;
		}
	}
	f->attached = false;
	if (lose_state) {
		memset(f->s, 0, sizeof(f->s));
		f->session = 0;
		memset(f->cache, 0, sizeof(f->cache));
	}
}

static void ft_requests(struct fake_tcpd *f)
{
	for (;;) {
		uint8_t ident[256], body[1024];
		size_t ident_len;
		int len = router_recv(f->router, ident, sizeof(ident), &ident_len, body, sizeof(body));
		if (len == -EAGAIN)
			return;
		if (len < 0)
			continue;
		Ustack__SockRequest *q = ustack__sock_request__unpack(NULL, (size_t)len, body);
		if (!q)
			continue;
		pthread_mutex_lock(&f->lock);
		bool restart = f->restart_before_op == (int)q->op;
		if (restart)
			f->restart_before_op = -1;
		bool die = f->die_on_op == (int)q->op;
		if (die)
			f->die_on_op = -1;
		pthread_mutex_unlock(&f->lock);
		if (restart || die)
			ft_detach(f, false);
		if (die) {
			/* Killed with the request read: it is never answered. */
			ustack__sock_request__free_unpacked(q, NULL);
			continue;
		}
		Ustack__SockReply r = USTACK__SOCK_REPLY__INIT;
		r.id = q->id;
		uint8_t optbuf[256];
		bool replayed = false;
		for (unsigned i = 0; i < FT_REPLY_CACHE; i++) {
			struct ft_reply_rec *rec = &f->cache[i];
			if (rec->id == q->id && rec->len) {
				zmq_send(f->router, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
				zmq_send(f->router, rec->body, rec->len, ZMQ_DONTWAIT);
				replayed = true;
				break;
			}
		}
		if (!replayed) {
			if (!f->attached || q->session != f->session ||
			    q->secret.len != SESSION_SECRET_LEN ||
			    memcmp(q->secret.data, f->secret, SESSION_SECRET_LEN) != 0) {
				r.detached = !f->attached;
				r.status = f->attached ? -EPERM : -ENOTCONN;
				ft_reply(f, ident, ident_len, &r, false);
			} else {
				if (q->op == USTACK__SOCK_REQUEST__OP__ACCEPT)
					r.status = ft_accept(f, q, &r);
				else
					r.status = ft_request(f, q, &r, optbuf);
				ft_reply(f, ident, ident_len, &r, true);
			}
		}
		ustack__sock_request__free_unpacked(q, NULL);
	}
}

/* ---- the session ---- */

static void ft_session(struct fake_tcpd *f)
{
	int conn = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return;
	struct session_hello h;
	int fds[SESSION_FDS_MAX];
	unsigned n = 0;
	struct session_welcome w = {.magic = SESSION_MAGIC, .version = SESSION_VERSION};
	int rc = session_server_recv(conn, 1000, &h, fds, &n, NULL, NULL);
	if (rc < 0) {
		close(conn);
		return;
	}
	if (f->attached || n < 2 || n - 2 > (unsigned)FT_SLOTS) {
		rc = -EBUSY;
	} else if (h.op == SESSION_RESUME && (h.session != f->session || f->session == 0 ||
					      memcmp(h.secret, f->secret, SESSION_SECRET_LEN))) {
		rc = -ENOENT;
	} else {
		rc = region_attach_kind(fds[0], REGION_KIND_STREAM, &f->region);
	}
	if (rc == 0) {
		f->attached = true;
		f->doorbell_fd = fds[1];
		for (int i = 0; i < FT_SLOTS; i++)
			f->slot_fd[i] = (unsigned)i + 2 < n ? fds[i + 2] : -1;
		close(fds[0]);
		if (h.op == SESSION_NEW) {
			memset(f->s, 0, sizeof(f->s));
			f->session = ((uint64_t)getpid() << 20) ^ ft_now_ms() ^ 0x5eed;
			for (unsigned i = 0; i < SESSION_SECRET_LEN; i++)
				f->secret[i] = (uint8_t)(i * 37 + (f->session & 0xff));
			pthread_mutex_lock(&f->lock);
			f->sessions++;
			pthread_mutex_unlock(&f->lock);
		}
		w.session = f->session;
		memcpy(w.secret, f->secret, SESSION_SECRET_LEN);
		f->conn_fd = conn;
	} else {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
	}
	w.status = rc;
	session_server_send(conn, &w);
	if (rc < 0)
		close(conn);
}

static void *ft_run(void *arg)
{
	struct fake_tcpd *f = arg;
	while (!f->stop) {
		pthread_mutex_lock(&f->lock);
		int restart = f->restart_req;
		f->restart_req = 0;
		f->passes++;
		pthread_cond_broadcast(&f->passed);
		pthread_mutex_unlock(&f->lock);
		if (restart)
			ft_detach(f, restart == 2);
		bool paused = ft_paused(f);
		zmq_pollitem_t it[5] = {
			{.socket = f->router, .events = ZMQ_POLLIN},
			{.fd = f->listen_fd, .events = ZMQ_POLLIN},
			{.fd = f->conn_fd, .events = ZMQ_POLLIN},
			{.fd = f->attached && !paused ? f->doorbell_fd : -1, .events = ZMQ_POLLIN},
			{.fd = f->ctl_fd, .events = ZMQ_POLLIN},
		};
		zmq_poll(it, 5, 2);
		if (it[4].revents) {
			uint64_t v;
			if (read(f->ctl_fd, &v, sizeof(v)) < 0) {
				/* nothing */
			}
		}
		if (it[1].revents)
			ft_session(f);
		if (f->conn_fd >= 0 && it[2].revents) {
			char b[16];
			ssize_t got = recv(f->conn_fd, b, sizeof(b), MSG_DONTWAIT);
			if (got == 0 || (got < 0 && errno != EAGAIN)) {
				/* the application is gone: close what it had, as tcpd would */
				for (int i = 0; i < FT_SLOTS; i++)
					if (f->s[i].open)
						ft_close(f, i, false);
				ft_detach(f, true);
			}
		}
		if (f->attached && !paused && it[3].revents) {
			uint64_t v;
			if (read(f->doorbell_fd, &v, sizeof(v)) == sizeof(v)) {
				pthread_mutex_lock(&f->lock);
				f->doorbells += v;
				pthread_mutex_unlock(&f->lock);
			}
		}
		if (it[0].revents)
			ft_requests(f);
		if (f->attached) {
			ft_timers(f);
			ft_pump(f);
		}
	}
	return NULL;
}

struct fake_tcpd *fake_tcpd_start(const char *instance)
{
	struct fake_tcpd *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	snprintf(f->instance, sizeof(f->instance), "%s", instance);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->passed, NULL);
	f->conn_fd = f->doorbell_fd = -1;
	for (int i = 0; i < FT_SLOTS; i++)
		f->slot_fd[i] = -1;
	f->next_port = 40000;
	f->restart_before_op = -1;
	f->die_on_op = -1;
	if (ustack_runtime_dir_create(instance) < 0)
		goto fail;
	char path[256], ep[300];
	if (session_path(instance, "tcpd", path, sizeof(path)) < 0)
		goto fail;
	unlink(path);
	f->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		goto fail;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->listen_fd, 8) < 0)
		goto fail;
	if (ustack_runtime_path(instance, "tcpd.sock", path, sizeof(path)) < 0)
		goto fail;
	unlink(path);
	snprintf(ep, sizeof(ep), "ipc://%s", path);
	f->zctx = zmq_ctx_new();
	f->router = zmq_socket(f->zctx, ZMQ_ROUTER);
	int linger = 0;
	zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_bind(f->router, ep) < 0)
		goto fail;
	f->ctl_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pthread_create(&f->thread, NULL, ft_run, f) != 0)
		goto fail;
	return f;
fail:
	fprintf(stderr, "fake_tcpd: cannot start: %s\n", strerror(errno));
	free(f);
	return NULL;
}

void fake_tcpd_stop(struct fake_tcpd **fp)
{
	struct fake_tcpd *f = *fp;
	if (!f)
		return;
	f->stop = true;
	ft_efd_write(f->ctl_fd);
	pthread_join(f->thread, NULL);
	ft_detach(f, true);
	zmq_close(f->router);
	zmq_ctx_term(f->zctx);
	close(f->listen_fd);
	close(f->ctl_fd);
	free(f);
	*fp = NULL;
}

void fake_tcpd_set_connect_delay(struct fake_tcpd *f, unsigned ms)
{
	pthread_mutex_lock(&f->lock);
	f->connect_delay_ms = ms;
	pthread_mutex_unlock(&f->lock);
}

void fake_tcpd_pause(struct fake_tcpd *f, bool paused)
{
	pthread_mutex_lock(&f->lock);
	f->paused = paused;
	uint64_t pass = f->passes;
	ft_efd_write(f->ctl_fd);
	/* A pass that began before the change may still be moving bytes: return once the next
	 * one has begun (passes run one after another), so the caller sees the change in force. */
	while (f->passes == pass && !f->stop)
		pthread_cond_wait(&f->passed, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

uint64_t fake_tcpd_doorbells(struct fake_tcpd *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t v = f->doorbells;
	pthread_mutex_unlock(&f->lock);
	return v;
}

uint64_t fake_tcpd_urgent(struct fake_tcpd *f)
{
	pthread_mutex_lock(&f->lock);
	uint64_t v = f->urgent;
	pthread_mutex_unlock(&f->lock);
	return v;
}

unsigned fake_tcpd_sessions(struct fake_tcpd *f)
{
	pthread_mutex_lock(&f->lock);
	unsigned v = f->sessions;
	pthread_mutex_unlock(&f->lock);
	return v;
}

void fake_tcpd_restart_before(struct fake_tcpd *f, int op)
{
	pthread_mutex_lock(&f->lock);
	f->restart_before_op = op;
	pthread_mutex_unlock(&f->lock);
}

void fake_tcpd_die_on(struct fake_tcpd *f, int op)
{
	pthread_mutex_lock(&f->lock);
	f->die_on_op = op;
	pthread_mutex_unlock(&f->lock);
}

void fake_tcpd_restart(struct fake_tcpd *f, bool lose_state)
{
	pthread_mutex_lock(&f->lock);
	f->restart_req = lose_state ? 2 : 1;
	pthread_mutex_unlock(&f->lock);
	ft_efd_write(f->ctl_fd);
}
