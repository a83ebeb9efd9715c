/* A backend whose lookups fail (except for "missing.example" and wildcard
 * keys, not found),
 * whose open() fails when the configuration says {"fail_open": true}, and
 * whose generation() fails when it says {"fail_generation": true}. */
#include <mxdelegate/backend.h>
#include <stdlib.h>
#include <string.h>

static int ok_generation, bad_generation;

static char *dup(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static int open_(const char *config, const struct mxd_host *host, void **handle, char **error)
{
	(void)host;
	if (strstr(config, "\"fail_open\":true")) {
		*error = dup("failing: open refused as asked");
		return MXD_ERROR;
	}
	*handle = strstr(config, "\"fail_generation\":true") ? &bad_generation : &ok_generation;
	return MXD_OK;
}

static int lookup(void *handle, const char *domain, char **record, char **error)
{
	(void)handle;
	(void)record;
	if (strcmp(domain, "missing.example") == 0 || strncmp(domain, "*.", 2) == 0)
		return MXD_NOT_FOUND;
	*error = dup("failing: the store is down");
	return MXD_ERROR;
}

static int generation(void *handle, uint64_t *gen, char **error)
{
	if (handle == &ok_generation) {
		*gen = 42;
		return MXD_OK;
	}
	*error = dup("failing: no generation either");
	return MXD_ERROR;
}

static void close_(void *handle) { (void)handle; }
static void release(char *s) { free(s); }

const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "failing",
	open_, lookup, generation, close_, release,
	/* read-only: no write side */
	NULL, NULL, NULL, NULL, NULL, NULL,
	0, NULL, NULL, /* 1.3: no flags, no renderings */
};
