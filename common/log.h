/* log: leveled logging to stderr, which is the journal under systemd. Lines carry a syslog
 * priority prefix ("<7>") when stderr is the journal (JOURNAL_STREAM set), so journalctl keeps
 * the levels; otherwise a plain "level: " prefix. */
#ifndef USTACK_LOG_H
#define USTACK_LOG_H

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_NOTICE = 5, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Process name shown in plain mode, and the threshold (from $USTACK_LOG_LEVEL: err, warn,
 * notice, info, debug; default info). */
void log_init(const char *ident);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_enabled(LOG_LVL_DEBUG)) \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
