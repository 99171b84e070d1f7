/* log: leveled stderr logging, journal-aware. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Process-wide settings, written once at start: not per-packet context. */
static const char *log_ident = "ustack";
static enum log_level log_threshold = LOG_LVL_INFO;
static int log_journal;

static const char *const log_names[] = {
	[LOG_LVL_ERR] = "error", [LOG_LVL_WARN] = "warning", [LOG_LVL_NOTICE] = "notice",
	[LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

/* Is stderr the journal's stream? Only then does "<N>" set the priority (sd-daemon(3)); under a
 * private manager stderr is a shared log file (StandardError=append:), where each line must say
 * which layer wrote it. $JOURNAL_STREAM is "device:inode" of that stream (systemd.exec(5)). */
static int log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &sb) < 0)
		return 0;
	return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

void log_init(const char *ident)
{
	log_ident = ident;
	log_journal = log_stderr_is_journal();
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
		fprintf(stderr, "%s[%ld]: %s: %s\n", log_ident, (long)getpid(), log_names[level],
			line);
}
