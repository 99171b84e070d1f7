/* helper_killpoint: trace stores into an area with page protection and single-stepping (the
 * design is in helper_killpoint.h). */
#include "helper_killpoint.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__linux__)
#define KP_SUPPORTED 1
#define KP_EFLAGS_TF 0x100
#else
#define KP_SUPPORTED 0
#endif

#define KP_OPEN_MAX 8 /* pages one instruction may touch before its trap */

/* The tracer is driven by signal handlers: its state has to be file-scope. */
static struct {
	uintptr_t lo, hi;
	long page;
	volatile sig_atomic_t armed;
	volatile unsigned count;
	uintptr_t open[KP_OPEN_MAX];
	unsigned n_open;
	void (*on_store)(unsigned n, void *ctx);
	void *ctx;
} kp;

bool killpoint_supported(void)
{
	return KP_SUPPORTED;
}

static size_t kp_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (len + page - 1) / page * page;
}

void *killpoint_alloc(size_t len)
{
	void *p = mmap(NULL, kp_round(len), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void killpoint_free(void *area, size_t len)
{
	if (area)
		munmap(area, kp_round(len));
}

#if KP_SUPPORTED
static void kp_reprotect(void)
{
	for (unsigned i = 0; i < kp.n_open; i++)
		mprotect((void *)kp.open[i], (size_t)kp.page, PROT_READ);
	kp.n_open = 0;
}

static void kp_on_segv(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	uintptr_t a = (uintptr_t)si->si_addr;
	(void)sig;
	if (!kp.armed || a < kp.lo || a >= kp.hi || kp.n_open == KP_OPEN_MAX) {
		/* A real fault: let it happen again with the default action (a crash the test
		 * framework reports). */
		signal(SIGSEGV, SIG_DFL);
		return;
	}
	uintptr_t p = a & ~(uintptr_t)(kp.page - 1);
	mprotect((void *)p, (size_t)kp.page, PROT_READ | PROT_WRITE);
	kp.open[kp.n_open++] = p;
	uc->uc_mcontext.gregs[REG_EFL] |= KP_EFLAGS_TF; /* trap after the store completes */
}

static void kp_on_trap(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)KP_EFLAGS_TF;
	if (!kp.armed || kp.n_open == 0)
		return;
	kp_reprotect();
	kp.count++;
	kp.armed = 0; /* a fault in the callback is a real one */
	kp.on_store(kp.count, kp.ctx);
	kp.armed = 1;
}
#endif

unsigned killpoint_each(void *area, size_t len, void (*fn)(void *), void *arg,
			void (*on_store)(unsigned n, void *ctx), void *ctx)
{
#if KP_SUPPORTED
	struct sigaction sa, old_segv, old_trap;
	size_t n = kp_round(len);

	memset(&kp, 0, sizeof(kp));
	kp.lo = (uintptr_t)area;
	kp.hi = kp.lo + n;
	kp.page = sysconf(_SC_PAGESIZE);
	kp.on_store = on_store;
	kp.ctx = ctx;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = kp_on_segv;
	sigaction(SIGSEGV, &sa, &old_segv);
	sa.sa_sigaction = kp_on_trap;
	sigaction(SIGTRAP, &sa, &old_trap);
	mprotect(area, n, PROT_READ);
	kp.armed = 1;
	fn(arg);
	kp.armed = 0;
	mprotect(area, n, PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGTRAP, &old_trap, NULL);
	return kp.count;
#else
	(void)area;
	(void)len;
	(void)on_store;
	(void)ctx;
	fn(arg);
	return 0;
#endif
}
