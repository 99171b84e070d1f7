/* test_region: application regions — layout, memfd creation, the server's attach checks, and a
 * datagram each way through the two sides' views.
 *
 * Every rejection test starts from a good region made by region_create_memfd and breaks exactly
 * one thing through the client's mapping (the header is plain memory to the client), or builds
 * the file by hand where the break is in the file itself (no seals, truncated). A failed attach
 * must leave the caller's struct untouched and nothing mapped.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helper_check.h"
#include "region.h"

#define TX_RING 8192u
#define RX_RING 4096u
#define SLOTS 4u

/* Both views are big (~6 KiB): static, not on Check's stack. Tests run forked. */
static struct region srv, cli, probe;

struct made {
	int fd;
	void *base;
	size_t size;
	struct region_hdr *hdr; /* the client's mapping of the header */
};

static void make(struct made *m, unsigned n_slots)
{
	ck_assert_int_eq(region_create_memfd(n_slots, TX_RING, RX_RING, &m->fd, &m->base, &m->size),
			 0);
	m->hdr = m->base;
}

static void unmake(struct made *m)
{
	munmap(m->base, m->size);
	close(m->fd);
}

/* Attach must fail with `err`, leaving `probe` exactly as it was. */
static void expect_attach_fails(int fd, int err)
{
	memset(&probe, 0xa5, sizeof(probe));
	ck_assert_int_eq(region_attach(fd, &probe), err);
	for (size_t i = 0; i < sizeof(probe); i++)
		ck_assert_uint_eq(((uint8_t *)&probe)[i], 0xa5);
}

START_TEST(size_for)
{
	ck_assert_uint_eq(region_size_for(0, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for(REGION_SLOTS_MAX + 1, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for(1, 4095, 4096), 0);
	ck_assert_uint_eq(region_size_for(1, 4096, 6000), 0);
	ck_assert_uint_eq(region_size_for(1, 4096, 2048), 0);
	ck_assert_uint_eq(region_size_for(64, RING_SIZE_MAX, RING_SIZE_MAX), 0); /* > max region */
	/* header page, control page (5 * 128 bytes of ring control, 4 * 64 of slot blocks, 1152
	 * of the application's statistics), then the data areas */
	ck_assert_uint_eq(region_size_for(4, 8192, 4096), 4096 + 4096 + 8192 + 4 * 4096);
	/* 65 ring control blocks of 128 bytes, 64 slot control blocks of 64 and the statistics
	 * take four pages */
	ck_assert_uint_eq(region_size_for(64, 4096, 4096), 4096 + 4 * 4096 + 65 * 4096);
}
END_TEST

START_TEST(format_rejects_bad_args)
{
	size_t n = region_size_for(2, 4096, 4096);
	uint8_t *buf = aligned_alloc(4096, n + 4096);
	ck_assert_int_eq(region_format(buf, n - 1, 2, 4096, 4096), -EINVAL);
	ck_assert_int_eq(region_format(buf + 8, n, 2, 4096, 4096), -EINVAL);
	ck_assert_int_eq(region_format(buf, n, 0, 4096, 4096), -EINVAL);
	ck_assert_int_eq(region_format(buf, n, 2, 4096, 3000), -EINVAL);
	ck_assert_int_eq(region_format(NULL, n, 2, 4096, 4096), -EINVAL);
	/* a larger buffer is fine: total_size says how large */
	ck_assert_int_eq(region_format(buf, n + 4096, 2, 4096, 4096), 0);
	struct region_hdr h;
	memcpy(&h, buf, sizeof(h));
	ck_assert_uint_eq(h.total_size, n + 4096);
	ck_assert_int_eq(region_validate(&h, n + 4096), 0);
	ck_assert_int_eq(region_validate(&h, n), -EINVAL);
	free(buf);
}
END_TEST

START_TEST(create_attach_round_trip)
{
	struct made m;
	make(&m, SLOTS);
	ck_assert_uint_eq(m.size, region_size_for(SLOTS, TX_RING, RX_RING));
	int seals = fcntl(m.fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	ck_assert_int_ne(fcntl(m.fd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_lt(ftruncate(m.fd, 4096), 0); /* sealed */
	ck_assert_uint_eq(m.hdr->magic, REGION_MAGIC);
	ck_assert_uint_eq(m.hdr->version, REGION_VERSION);
	ck_assert_uint_eq(m.hdr->n_slots, SLOTS);
	ck_assert_uint_eq(m.hdr->total_size, m.size);

	ck_assert_int_eq(region_attach(m.fd, &srv), 0);
	ck_assert_uint_eq(srv.n_slots, SLOTS);
	ck_assert_uint_eq(srv.size, m.size);
	ck_assert_int_eq(srv.role, REGION_SERVER);
	ck_assert_int_eq(srv.tx.role, RING_CONSUMER);
	ck_assert_uint_eq(srv.tx.size, TX_RING);
	for (unsigned i = 0; i < SLOTS; i++) {
		ck_assert_int_eq(srv.rx[i].role, RING_PRODUCER);
		ck_assert_uint_eq(srv.rx[i].size, RX_RING);
	}
	ck_assert_ptr_nonnull(region_rx(&srv, SLOTS - 1));
	ck_assert_ptr_null(region_rx(&srv, SLOTS));
	ck_assert_ptr_null(region_rx(&srv, UINT32_MAX));
	ck_assert_ptr_nonnull(region_slot(&srv, SLOTS - 1));
	ck_assert_ptr_null(region_slot(&srv, SLOTS));
	ck_assert_ptr_null(region_slot(&srv, UINT32_MAX));
	for (unsigned i = 0; i < SLOTS; i++)
		ck_assert_uint_eq(atomic_load(&region_slot(&srv, i)->tx_held), 0);

	void *base = m.base;
	ck_assert_int_eq(region_open_client(&base, m.size, &cli), 0);
	ck_assert_ptr_null(base); /* the client view owns the mapping now */
	ck_assert_int_eq(cli.tx.role, RING_PRODUCER);
	ck_assert_int_eq(cli.rx[0].role, RING_CONSUMER);
	/* the slot control blocks are the same memory on both sides, one cache line each */
	atomic_store(&region_slot(&srv, SLOTS - 1)->tx_held, 1234);
	ck_assert_uint_eq(atomic_load(&region_slot(&cli, SLOTS - 1)->tx_held), 1234);
	ck_assert_uint_eq((uintptr_t)region_slot(&cli, 1) - (uintptr_t)region_slot(&cli, 0), 64);
	ck_assert_uint_eq((uintptr_t)region_slot(&cli, 0) % RING_CACHELINE, 0);

	/* app -> server: sendto() on slot 2 */
	const char msg[] = "hello, udpd";
	struct region_tx_dgram td = { .slot = 2, .flags = REGION_TX_MORE,
				      .daddr = htonl(0x0a000001), .dport = htons(5353),
				      .has_addr = 1, .t_sent = 0x123456789abcull };
	uint8_t *b = ring_reserve(&cli.tx, REGION_REC_DGRAM, (uint32_t)(sizeof(td) + sizeof(msg)));
	ck_assert_ptr_nonnull(b);
	memcpy(b, &td, sizeof(td));
	memcpy(b + sizeof(td), msg, sizeof(msg));
	ring_commit(&cli.tx);

	struct ring_rec rec;
	ck_assert_int_eq(ring_peek(&srv.tx, &rec), 0);
	ck_assert_uint_eq(rec.type, REGION_REC_DGRAM);
	ck_assert_uint_eq(rec.len, sizeof(td) + sizeof(msg));
	uint8_t copy[256];
	memcpy(copy, rec.body, rec.len); /* copy out, then parse the copy */
	ring_release(&srv.tx);
	struct region_tx_dgram got;
	memcpy(&got, copy, sizeof(got));
	ck_assert_uint_eq(got.slot, 2);
	ck_assert_uint_eq(got.flags & ~REGION_TX_FLAGS_KNOWN, 0);
	ck_assert_uint_eq(ntohl(got.daddr), 0x0a000001);
	ck_assert_uint_eq(ntohs(got.dport), 5353);
	ck_assert_uint_eq(got.has_addr, 1);
	ck_assert_uint_eq(got.t_sent, 0x123456789abcull);
	ck_assert_str_eq((const char *)copy + sizeof(got), msg);
	ck_assert(ring_empty(&cli.tx));

	/* server -> app: the reply into slot 2's RX ring */
	struct ring *rx = region_rx(&srv, got.slot);
	struct region_rx_dgram rd = { .saddr = htonl(0x0a000001), .sport = htons(5353),
				      .flags = REGION_RX_TRUNC, .t_ring = 0xfedcba987654ull };
	b = ring_reserve(rx, REGION_REC_DGRAM, (uint32_t)(sizeof(rd) + 5));
	ck_assert_ptr_nonnull(b);
	memcpy(b, &rd, sizeof(rd));
	memcpy(b + sizeof(rd), "world", 5);
	ring_commit(rx);
	for (unsigned i = 0; i < SLOTS; i++)
		if (i != 2)
			ck_assert_int_eq(ring_peek(&cli.rx[i], &rec), -EAGAIN);
	ck_assert_int_eq(ring_peek(&cli.rx[2], &rec), 0);
	ck_assert_uint_eq(rec.len, sizeof(rd) + 5);
	memcpy(copy, rec.body, rec.len);
	ring_release(&cli.rx[2]);
	struct region_rx_dgram rgot;
	memcpy(&rgot, copy, sizeof(rgot));
	ck_assert_uint_eq(ntohl(rgot.saddr), 0x0a000001);
	ck_assert_uint_eq(ntohs(rgot.sport), 5353);
	ck_assert_uint_eq(rgot.flags, REGION_RX_TRUNC);
	ck_assert_uint_eq(rgot.t_ring, 0xfedcba987654ull);
	ck_assert(memcmp(copy + sizeof(rgot), "world", 5) == 0);
	ck_assert(ring_empty(rx));

	region_detach(&srv);
	ck_assert_ptr_null(srv.base);
	region_detach(&srv); /* safe twice */
	region_detach(&cli);
	close(m.fd);
}
END_TEST

/* After attach the client rewrites its header: the server never reads it again. */
START_TEST(attach_ignores_header_changes_after)
{
	struct made m;
	make(&m, SLOTS);
	ck_assert_int_eq(region_attach(m.fd, &srv), 0);
	memset(m.hdr, 0xff, sizeof(*m.hdr));
	uint8_t *b = ring_reserve(&srv.rx[1], REGION_REC_DGRAM, 8);
	ck_assert_ptr_nonnull(b);
	ring_commit(&srv.rx[1]);
	ck_assert_uint_eq(srv.rx[1].size, RX_RING);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

START_TEST(attach_rejects_no_seals)
{
	size_t n = region_size_for(2, 4096, 4096);
	int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)n), 0);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert(p != MAP_FAILED);
	ck_assert_int_eq(region_format(p, n, 2, 4096, 4096), 0);
	expect_attach_fails(fd, -EPERM); /* no seals */
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	expect_attach_fails(fd, -EPERM); /* could still grow */
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
	ck_assert_int_eq(region_attach(fd, &srv), 0); /* now it is fine */
	region_detach(&srv);
	munmap(p, n);
	close(fd);

	/* a memfd that cannot be sealed, a pipe, a regular file: no seals to see */
	fd = memfd_create("t", MFD_CLOEXEC);
	ck_assert_int_eq(ftruncate(fd, (off_t)n), 0);
	expect_attach_fails(fd, -EPERM);
	close(fd);
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	expect_attach_fails(pfd[0], -EPERM);
	close(pfd[0]);
	close(pfd[1]);
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), (off_t)n), 0);
	expect_attach_fails(fileno(f), -EPERM);
	fclose(f);
	expect_attach_fails(-1, -EBADF);
}
END_TEST

START_TEST(attach_rejects_magic_version)
{
	struct made m;
	make(&m, SLOTS);
	m.hdr->magic = 0x55535250u;
	expect_attach_fails(m.fd, -EPROTO);
	m.hdr->magic = REGION_MAGIC;
	m.hdr->version = REGION_VERSION + 1;
	expect_attach_fails(m.fd, -EPROTO);
	m.hdr->version = REGION_VERSION;
	ck_assert_int_eq(region_attach(m.fd, &srv), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

/* Break one field at a time (restoring it after), every one must be -EINVAL. */
START_TEST(attach_rejects_bad_geometry)
{
	struct made m;
	make(&m, SLOTS);
	struct region_hdr good = *m.hdr;
	struct region_hdr *h = m.hdr;
	uint64_t size = m.size;
#define BREAK(stmt)                                   \
	do {                                          \
		stmt;                                 \
		expect_attach_fails(m.fd, -EINVAL);   \
		*h = good;                            \
	} while (0)
	/* offsets pointing outside */
	BREAK(h->tx.data_off = size - TX_RING / 2);
	BREAK(h->tx.data_off = size);
	BREAK(h->rx[3].data_off = UINT64_MAX - 4095); /* off + len wraps around 2^64 */
	BREAK(h->rx[0].ctl_off = size - 64);
	BREAK(h->rx[1].ctl_off = UINT64_MAX - 63);
	/* overlaps */
	BREAK(h->rx[1].data_off = h->rx[0].data_off);
	BREAK(h->rx[1].data_off = h->rx[0].data_off + 64);
	BREAK(h->rx[2].ctl_off = h->rx[1].ctl_off);
	BREAK(h->tx.ctl_off = 0);                      /* inside the header */
	BREAK(h->tx.ctl_off = h->tx.data_off);         /* control inside data */
	BREAK(h->tx.data_off = h->rx[0].ctl_off - 64); /* data over control blocks */
	BREAK(h->slot_ctl_off = h->rx[SLOTS - 1].ctl_off);   /* slot blocks over a ring's */
	BREAK(h->slot_ctl_off = h->tx.data_off - 64);        /* slot blocks into TX data */
	BREAK(h->slot_ctl_off = 0);                          /* inside the header */
	BREAK(h->slot_ctl_off = size - 64);                  /* outside */
	BREAK(h->slot_ctl_off = UINT64_MAX - 63);
	BREAK(h->slot_ctl_off += 8);                         /* alignment */
	/* the application's statistics area (1152 bytes) */
	BREAK(h->app_stats_off = h->slot_ctl_off);                 /* over the slot blocks */
	BREAK(h->app_stats_off = h->slot_ctl_off + 64 * (SLOTS - 1)); /* half over them */
	BREAK(h->app_stats_off = h->rx[0].ctl_off);                /* over a ring's control */
	BREAK(h->app_stats_off = h->tx.data_off - 64);             /* into TX data */
	BREAK(h->app_stats_off = 0);                               /* the header */
	BREAK(h->app_stats_off = size - 64);                       /* outside */
	BREAK(h->app_stats_off = UINT64_MAX - 63);
	BREAK(h->app_stats_off += 8);                              /* alignment */
	BREAK(h->reserved2 = 1);
	/* ring sizes */
	BREAK(h->rx[0].data_size = 6000);
	BREAK(h->rx[0].data_size = 2048);
	BREAK(h->tx.data_size = 0);
	BREAK(h->tx.data_size = 1u << 31);
	/* alignment */
	BREAK(h->rx[2].ctl_off += 8);
	BREAK(h->tx.data_off += 8);
	/* slots */
	BREAK(h->n_slots = REGION_SLOTS_MAX + 1);
	BREAK(h->n_slots = 0);
	BREAK(h->n_slots = UINT32_MAX);
	BREAK(h->n_slots = SLOTS + 1); /* the extra slot's entry is all zero: size 0 */
	/* reserved fields and unused entries */
	BREAK(h->kind = REGION_KIND_COUNT);          /* no such kind */
	BREAK(h->kind = REGION_KIND_STREAM);         /* a stream region has no shared TX ring */
	BREAK(h->reserved1 = 1);
	BREAK(h->stx[0] = h->rx[0]);                 /* a datagram region has no stream TX rings */
	BREAK(h->stx[REGION_SLOTS_MAX - 1].reserved = 1);
	BREAK(h->rx[0].reserved = 1);
	BREAK(h->rx[SLOTS].data_size = 4096);
	BREAK(h->rx[REGION_SLOTS_MAX - 1].ctl_off = 64);
	/* size */
	BREAK(h->total_size = size + 4096);
	BREAK(h->total_size = size - 1);
#undef BREAK
	ck_assert_int_eq(region_attach(m.fd, &srv), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

/* The file is shorter than its header says (a client that truncated before sealing). */
START_TEST(attach_rejects_truncated)
{
	size_t n = region_size_for(2, 4096, 4096);
	uint8_t *img = aligned_alloc(4096, n);
	ck_assert_int_eq(region_format(img, n, 2, 4096, 4096), 0);
	size_t cuts[] = { n - 4096, n - 8, sizeof(struct region_hdr), sizeof(struct region_hdr) - 1,
			  0 };
	for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		int fd = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		ck_assert_int_ge(fd, 0);
		size_t w = cuts[i] < n ? cuts[i] : n;
		ck_assert_int_eq(ftruncate(fd, (off_t)cuts[i]), 0);
		if (w)
			ck_assert_int_eq(pwrite(fd, img, w, 0), (ssize_t)w);
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
		expect_attach_fails(fd, -EINVAL);
		close(fd);
	}
	free(img);
}
END_TEST

START_TEST(attach_rejects_garbage_indices)
{
	struct made m;
	make(&m, SLOTS);
	struct ring_shared *ctl = (struct ring_shared *)(void *)((uint8_t *)m.base +
								 m.hdr->rx[3].ctl_off);
	atomic_store(&ctl->head, RX_RING + 8);
	expect_attach_fails(m.fd, -EBADMSG);
	void *base = m.base;
	memset(&probe, 0xa5, sizeof(probe));
	ck_assert_int_eq(region_open_client(&base, m.size, &probe), -EBADMSG);
	ck_assert_ptr_eq(base, m.base);
	atomic_store(&ctl->head, 0);
	ck_assert_int_eq(region_attach(m.fd, &srv), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

START_TEST(open_client_validates)
{
	struct made m;
	make(&m, 1);
	void *base = m.base;
	ck_assert_int_eq(region_open_client(&base, m.size - 1, &cli), -EINVAL);
	ck_assert_int_eq(region_open_client(&base, 16, &cli), -EINVAL);
	m.hdr->magic = 0;
	ck_assert_int_eq(region_open_client(&base, m.size, &cli), -EPROTO);
	m.hdr->magic = REGION_MAGIC;
	ck_assert_ptr_eq(base, m.base);
	ck_assert_int_eq(region_open_client(&base, m.size, &cli), 0);
	ck_assert_uint_eq(cli.n_slots, 1);
	region_detach(&cli);
	close(m.fd);
}
END_TEST

/* ---- stream regions (REGION_KIND_STREAM) ---- */

#define STX_RING 8192u
#define SRX_RING 4096u

static void make_stream(struct made *m, unsigned n_slots)
{
	ck_assert_int_eq(region_create_memfd_kind(REGION_KIND_STREAM, n_slots, STX_RING, SRX_RING,
						  &m->fd, &m->base, &m->size), 0);
	m->hdr = m->base;
}

static void expect_attach_stream_fails(int fd, int err)
{
	memset(&probe, 0xa5, sizeof(probe));
	ck_assert_int_eq(region_attach_kind(fd, REGION_KIND_STREAM, &probe), err);
	for (size_t i = 0; i < sizeof(probe); i++)
		ck_assert_uint_eq(((uint8_t *)&probe)[i], 0xa5);
}

START_TEST(stream_size_for)
{
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_COUNT, 1, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for_kind((enum region_kind)-1, 1, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 0, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 65, 4096, 4096), 0);
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 1, 4096, 3000), 0);
	/* 64 slots of 8 MiB each way would be 1 GiB of data: over the limit */
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 64, 8u << 20, 8u << 20), 0);
	/* header page; 4 x (two ring blocks of 128 + a slot block of 128) = 1536, and the
	 * application's statistics (1152): one page; then each slot's TX and RX data */
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 4, STX_RING, SRX_RING),
			  4096 + 4096 + 4 * (STX_RING + SRX_RING));
	/* 64 slots: 64 x 384 = 24 KiB of blocks and the statistics, seven pages */
	ck_assert_uint_eq(sizeof(struct region_app_stats), 1152);
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 64, 4096, 4096),
			  4096 + 7 * 4096 + 64 * 8192);
	/* what libsock makes: 64 slots of 256 KiB each way */
	ck_assert_uint_eq(region_size_for_kind(REGION_KIND_STREAM, 64, 256u << 10, 256u << 10),
			  4096 + 7 * 4096 + 64 * (512u << 10));
	ck_assert_uint_eq(sizeof(struct region_stream_ctl), 128);
}
END_TEST

START_TEST(stream_create_attach_round_trip)
{
	struct made m;
	make_stream(&m, SLOTS);
	ck_assert_uint_eq(m.hdr->kind, REGION_KIND_STREAM);
	ck_assert_uint_eq(m.hdr->version, REGION_VERSION);
	ck_assert_uint_eq(m.hdr->tx.data_size, 0);
	ck_assert_int_eq(region_attach_kind(m.fd, REGION_KIND_STREAM, &srv), 0);
	ck_assert_int_eq(srv.kind, REGION_KIND_STREAM);
	ck_assert_uint_eq(srv.n_slots, SLOTS);
	for (unsigned i = 0; i < SLOTS; i++) {
		ck_assert_int_eq(region_stream_tx(&srv, i)->role, RING_CONSUMER);
		ck_assert_uint_eq(region_stream_tx(&srv, i)->size, STX_RING);
		ck_assert_int_eq(region_stream_rx(&srv, i)->role, RING_PRODUCER);
		ck_assert_uint_eq(region_stream_rx(&srv, i)->size, SRX_RING);
		struct region_stream_ctl *c = region_stream_slot(&srv, i);
		ck_assert_uint_eq(atomic_load(&c->state), 0);
		ck_assert_uint_eq((uintptr_t)c % RING_CACHELINE, 0);
	}
	/* the accessors bound the slot and refuse the other kind's views */
	ck_assert_ptr_null(region_stream_tx(&srv, SLOTS));
	ck_assert_ptr_null(region_stream_rx(&srv, UINT32_MAX));
	ck_assert_ptr_null(region_stream_slot(&srv, SLOTS));
	ck_assert_ptr_null(region_rx(&srv, 0));
	ck_assert_ptr_null(region_slot(&srv, 0));

	void *base = m.base;
	ck_assert_int_eq(region_open_client(&base, m.size, &cli), 0);
	ck_assert_ptr_null(base);
	ck_assert_int_eq(cli.kind, REGION_KIND_STREAM);
	ck_assert_int_eq(region_stream_tx(&cli, 0)->role, RING_PRODUCER);
	ck_assert_int_eq(region_stream_rx(&cli, 0)->role, RING_CONSUMER);
	/* slot blocks: the same memory on both sides, two cache lines each */
	ck_assert_uint_eq((uintptr_t)region_stream_slot(&cli, 1) -
				  (uintptr_t)region_stream_slot(&cli, 0), 128);
	atomic_store(&region_stream_slot(&srv, 3)->eof_at, 77);
	atomic_store(&region_stream_slot(&cli, 3)->tx_push, 99);
	ck_assert_uint_eq(atomic_load(&region_stream_slot(&cli, 3)->eof_at), 77);
	ck_assert_uint_eq(atomic_load(&region_stream_slot(&srv, 3)->tx_push), 99);

	/* app -> server through slot 2's TX ring; server -> app through slot 1's RX ring; the
	 * other rings see nothing */
	const char out[] = "GET / HTTP/1.0\r\n\r\n";
	struct stream_ring *ctx = region_stream_tx(&cli, 2);
	ck_assert_int_eq(stream_ring_write_at(ctx, 0, out, sizeof(out)), 0);
	ck_assert_int_eq(stream_ring_publish_head(ctx, sizeof(out)), 0);
	for (unsigned i = 0; i < SLOTS; i++)
		ck_assert_int_eq(stream_ring_readable(region_stream_tx(&srv, i)),
				 i == 2 ? (int64_t)sizeof(out) : 0);
	char got[64];
	ck_assert_int_eq(stream_ring_read_at(region_stream_tx(&srv, 2), 0, got, sizeof(out)), 0);
	ck_assert_str_eq(got, out);
	ck_assert_int_eq(stream_ring_publish_tail(region_stream_tx(&srv, 2), sizeof(out)), 0);
	ck_assert_int_eq(stream_ring_writable(ctx), STX_RING);

	struct stream_ring *srx = region_stream_rx(&srv, 1);
	ck_assert_int_eq(stream_ring_write_at(srx, 5, "world", 5), 0); /* out of order first */
	ck_assert_int_eq(stream_ring_write_at(srx, 0, "hello", 5), 0);
	ck_assert_int_eq(stream_ring_publish_head(srx, 10), 0);
	for (unsigned i = 0; i < SLOTS; i++)
		ck_assert_int_eq(stream_ring_readable(region_stream_rx(&cli, i)), i == 1 ? 10 : 0);
	ck_assert_int_eq(stream_ring_read_at(region_stream_rx(&cli, 1), 0, got, 10), 0);
	ck_assert(memcmp(got, "helloworld", 10) == 0);

	region_detach(&srv);
	region_detach(&cli);
	close(m.fd);
}
END_TEST

/* A server attaches only the kind it serves: udpd never sees byte rings, tcpd never records. */
START_TEST(attach_refuses_other_kind)
{
	struct made m;
	make_stream(&m, SLOTS);
	expect_attach_fails(m.fd, -EPROTO); /* region_attach is udpd's: datagram regions only */
	unmake(&m);
	make(&m, SLOTS);
	expect_attach_stream_fails(m.fd, -EPROTO);
	ck_assert_int_eq(region_attach_kind(m.fd, REGION_KIND_DGRAM, &srv), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

START_TEST(stream_attach_rejects_bad_geometry)
{
	struct made m;
	make_stream(&m, SLOTS);
	struct region_hdr good = *m.hdr;
	struct region_hdr *h = m.hdr;
	uint64_t size = m.size;
#define BREAK(stmt)                                         \
	do {                                                \
		stmt;                                       \
		expect_attach_stream_fails(m.fd, -EINVAL);  \
		*h = good;                                  \
	} while (0)
	/* outside */
	BREAK(h->stx[0].data_off = size - STX_RING / 2);
	BREAK(h->stx[3].data_off = UINT64_MAX - 4095);
	BREAK(h->stx[1].ctl_off = size - 64);
	/* overlaps: TX with RX, TX data with another slot's, rings with the slot blocks */
	BREAK(h->stx[1].data_off = h->rx[1].data_off);
	BREAK(h->stx[2].data_off = h->stx[1].data_off + 64);
	BREAK(h->stx[0].ctl_off = h->rx[0].ctl_off);
	BREAK(h->stx[3].ctl_off = h->slot_ctl_off + 128 * (SLOTS - 1)); /* in the last block */
	BREAK(h->slot_ctl_off = h->rx[SLOTS - 1].ctl_off);  /* blocks over a ring's control */
	BREAK(h->slot_ctl_off = good.stx[0].data_off - 256); /* 4 x 128 reach into TX data */
	/* sizes, alignment */
	BREAK(h->stx[2].data_size = 6000);
	BREAK(h->stx[2].data_size = 0);
	BREAK(h->stx[0].ctl_off += 8);
	BREAK(h->stx[0].reserved = 1);
	/* entries the kind does not have, or beyond n_slots */
	BREAK(h->tx = good.rx[0]);
	BREAK(h->tx.reserved = 1);
	BREAK(h->stx[SLOTS].data_size = 4096);
	BREAK(h->rx[SLOTS].ctl_off = 64);
	BREAK(h->n_slots = SLOTS + 1);
	BREAK(h->n_slots = 0);
	BREAK(h->kind = 2);
	BREAK(h->kind = UINT32_MAX);
	BREAK(h->reserved1 = 1);
	BREAK(h->reserved2 = 1);
	/* the statistics area (REGION_VERSION 6: stream regions have one too) */
	BREAK(h->app_stats_off = 0);                                 /* the header */
	BREAK(h->app_stats_off = h->slot_ctl_off + 128 * (SLOTS - 1));     /* over a slot block */
	BREAK(h->app_stats_off = h->stx[0].ctl_off);                 /* over a ring's control */
	BREAK(h->app_stats_off = h->rx[0].data_off - 64);            /* into RX data */
	BREAK(h->app_stats_off = size - 64);                         /* outside */
	BREAK(h->app_stats_off = UINT64_MAX - 63);
	BREAK(h->app_stats_off += 8);                                /* alignment */
	BREAK(h->total_size = size + 1);
#undef BREAK
	ck_assert_int_eq(region_attach_kind(m.fd, REGION_KIND_STREAM, &srv), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

/* The slot blocks of a stream region are twice a datagram region's: a layout that gives them
 * only 64 bytes each must not pass. */
START_TEST(stream_slot_blocks_sized_by_kind)
{
	size_t n = region_size_for_kind(REGION_KIND_STREAM, 2, 4096, 4096);
	uint8_t *img = aligned_alloc(4096, n);
	ck_assert_int_eq(region_format_kind(REGION_KIND_STREAM, img, n, 2, 4096, 4096), 0);
	struct region_hdr h;
	memcpy(&h, img, sizeof(h));
	ck_assert_int_eq(region_validate(&h, n), 0);
	/* move RX[1]'s control block into the second half of the slot blocks' area */
	struct region_hdr bad = h;
	bad.rx[1].ctl_off = h.slot_ctl_off + 128 + 64;
	ck_assert_int_eq(region_validate(&bad, n), -EINVAL);
	/* a datagram header over the same file: its slot blocks are 64 bytes, and its geometry
	 * is wrong in other ways (no TX ring): refused */
	bad = h;
	bad.kind = REGION_KIND_DGRAM;
	ck_assert_int_eq(region_validate(&bad, n), -EINVAL);
	free(img);
}
END_TEST

START_TEST(stream_attach_rejects_garbage_indices)
{
	struct made m;
	make_stream(&m, SLOTS);
	uint8_t *p = m.base;
	struct ring_shared *tx = (struct ring_shared *)(void *)(p + m.hdr->stx[2].ctl_off);
	atomic_store(&tx->tail, 1); /* ahead of head */
	expect_attach_stream_fails(m.fd, -EBADMSG);
	atomic_store(&tx->tail, 0);
	struct ring_shared *rx = (struct ring_shared *)(void *)(p + m.hdr->rx[3].ctl_off);
	atomic_store(&rx->head, SRX_RING + 1);
	expect_attach_stream_fails(m.fd, -EBADMSG);
	/* indices anywhere, a ring apart at most: fine (unaligned is fine for bytes) */
	atomic_store(&rx->head, (1ull << 50) + SRX_RING + 3);
	atomic_store(&rx->tail, (1ull << 50) + 3);
	ck_assert_int_eq(region_attach_kind(m.fd, REGION_KIND_STREAM, &srv), 0);
	ck_assert_int_eq(stream_ring_writable(region_stream_rx(&srv, 3)), 0);
	region_detach(&srv);
	unmake(&m);
}
END_TEST

static Suite *region_suite(void)
{
	Suite *s = suite_create("region");
	TCase *tc = tcase_create("region");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, size_for);
	tcase_add_test(tc, format_rejects_bad_args);
	tcase_add_test(tc, create_attach_round_trip);
	tcase_add_test(tc, attach_ignores_header_changes_after);
	tcase_add_test(tc, attach_rejects_no_seals);
	tcase_add_test(tc, attach_rejects_magic_version);
	tcase_add_test(tc, attach_rejects_bad_geometry);
	tcase_add_test(tc, attach_rejects_truncated);
	tcase_add_test(tc, attach_rejects_garbage_indices);
	tcase_add_test(tc, open_client_validates);
	tcase_add_test(tc, stream_size_for);
	tcase_add_test(tc, stream_create_attach_round_trip);
	tcase_add_test(tc, attach_refuses_other_kind);
	tcase_add_test(tc, stream_attach_rejects_bad_geometry);
	tcase_add_test(tc, stream_slot_blocks_sized_by_kind);
	tcase_add_test(tc, stream_attach_rejects_garbage_indices);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(region_suite());
}
