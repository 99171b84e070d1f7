/* txn_kill: SIGKILL a running server at a chosen instruction inside a chosen function, for
 * fault tests that must hit the few microseconds a server spends updating its state (a kill
 * from outside, at a random moment, almost never lands there).
 *
 *   txn_kill EXE PID OFFSET STEPS TIMEOUT_MS
 *
 * Checks that PID runs EXE (the same file: OFFSET is only meaningful in it, and a breakpoint
 * in another program would corrupt it), attaches to PID's main thread (ptrace), puts a
 * breakpoint at OFFSET in its executable (the symbol's address in `nm EXE`, a PIE binary),
 * lets it run; when the main thread reaches the
 * breakpoint it executes STEPS more instructions one at a time (for real: whatever the function
 * and its callees store happens) and is then killed with SIGKILL, exactly between two
 * instructions as a kill of a busy server would land. Exit 0: killed, printing where
 * ("killed at +N from OFFSET" and the instruction pointer); 3: the breakpoint was not reached
 * within TIMEOUT_MS (the process is left running, untouched); 1: an error (printed).
 * Other threads run freely; signals meant for the process are passed on.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t pid;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fail(const char *what)
{
	fprintf(stderr, "txn_kill: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The load address of the executable: the start of its mapping at file offset 0. */
static int exe_base(uintptr_t *base)
{
	char path[64], exe[4096], line[4608];
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int rc = -1;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo;
		unsigned long long off;
		char file[4096] = "";
		if (sscanf(line, "%" SCNxPTR "-%*x %*s %llx %*s %*d %4095s", &lo, &off, file) >= 2 &&
		    off == 0 && strcmp(file, exe) == 0) {
			*base = lo;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

/* Wait for the tracee to stop, passing on signals that are not ours. 0 with *sig the stop
 * signal (SIGTRAP for ours), -1 if it is gone or the deadline passed (then it is stopped by
 * PTRACE_INTERRUPT if possible, *sig = 0). */
static int wait_stop(uint64_t deadline, int *sig)
{
	for (;;) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (now_ms() >= deadline) {
				ptrace(PTRACE_INTERRUPT, pid, 0, 0);
				if (waitpid(pid, &st, __WALL) < 0 || !WIFSTOPPED(st))
					return -1;
				*sig = 0;
				return -1;
			}
			poll(NULL, 0, 1);
			continue;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return -1;
		if (!WIFSTOPPED(st))
			continue;
		int s = WSTOPSIG(st);
		if (s == SIGTRAP) {
			*sig = s;
			return 0;
		}
		if (st >> 16) { /* a ptrace event stop (PTRACE_INTERRUPT's): no signal to pass */
			ptrace(PTRACE_CONT, pid, 0, 0);
			continue;
		}
		ptrace(PTRACE_CONT, pid, 0, (void *)(uintptr_t)s); /* theirs: deliver it */
	}
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s EXE PID OFFSET STEPS TIMEOUT_MS\n", argv[0]);
		return 1;
	}
	pid = (pid_t)atoi(argv[2]);
	uintptr_t off = (uintptr_t)strtoull(argv[3], NULL, 0);
	long steps = atol(argv[4]);
	uint64_t deadline = now_ms() + (uint64_t)atol(argv[5]);
	if (pid <= 1) {
		fprintf(stderr, "txn_kill: no process %s\n", argv[2]);
		return 1;
	}

	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0)
		return fail("attach");
	/* Attached (so the PID can no longer be reused under us): is it EXE? */
	char path[64];
	struct stat want, got;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (stat(argv[1], &want) < 0 || stat(path, &got) < 0 || want.st_dev != got.st_dev ||
	    want.st_ino != got.st_ino) {
		ptrace(PTRACE_DETACH, pid, 0, 0);
		fprintf(stderr, "txn_kill: process %d does not run %s\n", (int)pid, argv[1]);
		return 1;
	}
	int st;
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0 || waitpid(pid, &st, __WALL) < 0)
		return fail("stop");
	uintptr_t base;
	if (exe_base(&base) < 0) {
		ptrace(PTRACE_DETACH, pid, 0, 0);
		fprintf(stderr, "txn_kill: no executable mapping in /proc/%d/maps\n", (int)pid);
		return 1;
	}
	uintptr_t bp = base + off;
	errno = 0;
	long orig = ptrace(PTRACE_PEEKTEXT, pid, (void *)bp, 0);
	if (errno)
		return fail("read the text");
	long trap = (orig & ~0xffL) | 0xcc; /* int3 */
	if (ptrace(PTRACE_POKETEXT, pid, (void *)bp, (void *)trap) < 0 ||
	    ptrace(PTRACE_CONT, pid, 0, 0) < 0)
		return fail("set the breakpoint");

	struct user_regs_struct regs;
	int sig = 0;
	for (;;) {
		if (wait_stop(deadline, &sig) < 0) {
			/* Not reached (or gone): leave it as it was. */
			ptrace(PTRACE_POKETEXT, pid, (void *)bp, (void *)orig);
			ptrace(PTRACE_DETACH, pid, 0, 0);
			printf("not reached\n");
			return 3;
		}
		if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
			return fail("registers");
		if (regs.rip == bp + 1)
			break;
		ptrace(PTRACE_CONT, pid, 0, 0); /* a trap that is not ours (never expected) */
	}
	/* At the breakpoint: put the instruction back and run from it, one at a time. */
	regs.rip = bp;
	if (ptrace(PTRACE_POKETEXT, pid, (void *)bp, (void *)orig) < 0 ||
	    ptrace(PTRACE_SETREGS, pid, 0, &regs) < 0)
		return fail("restore the text");
	long done = 0;
	bool blocked = false;
	for (; done < steps && !blocked; done++) {
		if (ptrace(PTRACE_SINGLESTEP, pid, 0, 0) < 0)
			return fail("single step");
		/* A step may be a system call that waits (the loop's poll, once the request is
		 * done): past the deadline the kill lands inside it, which is a kill point too. A
		 * signal arriving meanwhile is dropped: the kill comes right after anyway. */
		for (;;) {
			pid_t r = waitpid(pid, &st, WNOHANG | __WALL);
			if (r < 0)
				return fail("wait for the step");
			if (r > 0)
				break;
			if (now_ms() >= deadline) {
				blocked = true;
				break;
			}
			poll(NULL, 0, 1);
		}
	}
	if (blocked) {
		kill(pid, SIGKILL);
		printf("killed %ld instructions after %#" PRIxPTR ", in a system call\n", done, off);
		return 0;
	}
	ptrace(PTRACE_GETREGS, pid, 0, &regs);
	kill(pid, SIGKILL);
	printf("killed %ld instructions after %#" PRIxPTR ", at offset %#" PRIxPTR "\n", done, off,
	       (uintptr_t)regs.rip - base);
	return 0;
}
