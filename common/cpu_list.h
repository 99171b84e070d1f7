/* cpu_list: the CPUs a stack instance's servers run on ([stack] cpus), written as Linux writes
 * CPU lists (cpuset(7) "List format", /sys/devices/system/cpu/online): "1", "0-3", "0,2-3".
 *
 * Why a stack pins its layers at all: a packet crosses every layer's process, and on a machine
 * whose other CPUs are idle each hand-over wakes a halted CPU (on the 2-vCPU guests here ~50 µs,
 * against ~2 µs to switch to the next process on the same CPU). Kept on one CPU the layers hand a
 * packet on with a context switch; docs/ARCHITECTURE.md has the measurements. The affinity is set
 * before a server starts any thread, so ZeroMQ's I/O threads and io_uring's workers inherit it. */
#ifndef USTACK_CPU_LIST_H
#define USTACK_CPU_LIST_H

#include <sched.h>
#include <stddef.h>

/* The longest list the config keeps, terminator included. */
#define CPU_LIST_MAX 64u

/* Parse s into set (cleared first). 0; -EINVAL for anything but ascending-or-not numbers and
 * ranges a-b (a <= b) separated by commas, a CPU number at or above CPU_SETSIZE, or an empty
 * list. set is untouched on failure. */
int cpu_list_parse(const char *s, cpu_set_t *set);

/* Bind the calling thread (and every thread it starts afterwards) to list. "" is a no-op.
 * 0; -EINVAL if the list does not parse or names no CPU this process may run on. */
int cpu_list_apply(const char *list);

#endif
