/* paths: runtime directory and config file locations of an instance. */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return (v && *v) ? v : fallback;
}

bool ustack_instance_valid(const char *instance)
{
	if (!instance)
		return false;
	size_t n = strlen(instance);
	if (n == 0 || n > USTACK_INSTANCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = instance[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int fmt(char *out, size_t size, const char *f, const char *a, const char *b, const char *c)
{
	int n = snprintf(out, size, f, a, b, c);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int ustack_runtime_dir(const char *instance, char *out, size_t size)
{
	if (!ustack_instance_valid(instance))
		return -EINVAL;
	return fmt(out, size, "%s/%s%s", env_or("USTACK_RUNTIME_DIR", "/run/ustack"), instance, "");
}

int ustack_runtime_path(const char *instance, const char *file, char *out, size_t size)
{
	char dir[256];
	int rc = ustack_runtime_dir(instance, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	return fmt(out, size, "%s/%s%s", dir, file, "");
}

int ustack_config_path(const char *instance, char *out, size_t size)
{
	if (!ustack_instance_valid(instance))
		return -EINVAL;
	return fmt(out, size, "%s/%s%s", env_or("USTACK_CONF_DIR", "/etc/ustack"), instance, ".conf");
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir(path, 0755);
		*p = '/';
		if (rc < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int ustack_runtime_dir_create(const char *instance)
{
	char dir[256];
	int rc = ustack_runtime_dir(instance, dir, sizeof(dir));
	if (rc < 0)
		return rc;
	return mkdir_p(dir);
}
