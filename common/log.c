/* log: leveled stderr logging, journal-aware. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Process-wide settings, written once at start: not per-packet context. */
static const char *log_ident = "ustack";
static enum log_level log_threshold = LOG_LVL_INFO;
static int log_journal;

static const char *const log_names[] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

void log_init(const char *ident)
{
	log_ident = ident;
	log_journal = getenv("JOURNAL_STREAM") != NULL || getenv("INVOCATION_ID") != NULL;
	const char *lvl = getenv("USTACK_LOG_LEVEL");
	if (lvl) {
		for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++)
			if (strcmp(lvl, log_names[i]) == 0 || (strcmp(lvl, "err") == 0 && i == LOG_LVL_ERR) ||
			    (strcmp(lvl, "warn") == 0 && i == LOG_LVL_WARN))
				log_threshold = (enum log_level)i;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void log_set_level(enum log_level level) { log_threshold = level; }

int log_enabled(enum log_level level) { return level <= log_threshold; }

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	else
		fprintf(stderr, "%s: %s: %s\n", log_ident, log_names[level], line);
}
