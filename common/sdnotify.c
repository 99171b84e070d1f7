/* sdnotify: READY/STATUS/WATCHDOG/STOPPING notifications to systemd. */
#include "sdnotify.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>

void sdn_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "serving");
}

void sdn_status(const char *status) { sd_notifyf(0, "STATUS=%s", status); }

void sdn_stopping(const char *status)
{
	sd_notifyf(0, "STOPPING=1\nSTATUS=%s", status ? status : "stopping");
}

uint64_t sdn_watchdog_interval(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec * 1000ull / 2; /* sd_watchdog_enabled(3): notify at half the interval */
}

void sdn_watchdog(void) { sd_notify(0, "WATCHDOG=1"); }
