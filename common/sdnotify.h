/* sdnotify: the one module that speaks sd_notify for a server (libreswan pluto_sd style).
 * READY=1 once attached and serving, WATCHDOG=1 from a timer of the loop that does the work (so a
 * wedged loop stops feeding it), STATUS= lines, STOPPING=1 on the way out. Outside systemd every
 * call is a no-op. */
#ifndef USTACK_SDNOTIFY_H
#define USTACK_SDNOTIFY_H

#include <stdint.h>

void sdn_ready(const char *status);
void sdn_status(const char *status);
void sdn_stopping(const char *status);
/* Interval at which to send WATCHDOG=1 (half of WatchdogSec=), in ns; 0 when not asked. */
uint64_t sdn_watchdog_interval(void);
void sdn_watchdog(void);

#endif
