/* A backend built against ABI 1.2, the header as it is: it reads the host's
 * abi_minor, which 1.2 appended, and logs what it found through the host's
 * logger.  It keeps the host pointer instead of a copy, as backend.h asks,
 * and reads the version again at each lookup to show that the pointer
 * stays valid until close().  It sets abi_minor to 2 itself rather than to
 * MXD_BACKEND_ABI_MINOR: it stays a 1.2 plugin when the header moves on. */
#include <mxdelegate/backend.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mxd_host *the_host;

static char *dup(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static int open_(const char *config, const struct mxd_host *host, void **out, char **error)
{
	(void)config;
	if (!host) {
		*error = dup("abi_1_2: no host");
		return MXD_ERROR;
	}
	char line[64];
	snprintf(line, sizeof line, "abi_1_2: host ABI 1.%lu", (unsigned long)host->abi_minor);
	host->log(host->ctx, MXD_LOG_INFO, line);
	the_host = host;
	*out = &the_host;
	return MXD_OK;
}

/* "example.org" has a record that says which host version the plugin saw. */
static int lookup(void *h, const char *domain, char **record, char **error)
{
	(void)h;
	if (strcmp(domain, "example.org") != 0)
		return MXD_NOT_FOUND;
	char r[96];
	snprintf(r, sizeof r, "{\"server\":\"matrix.example.org:443\",\"host_abi_minor\":%lu}",
	         (unsigned long)the_host->abi_minor);
	if (!(*record = dup(r))) {
		*error = dup("abi_1_2: out of memory");
		return MXD_ERROR;
	}
	return MXD_OK;
}

static int generation(void *h, uint64_t *gen, char **error)
{
	(void)h, (void)error;
	*gen = 12;
	return MXD_OK;
}

static void close_(void *h) { (void)h; }
static void release(char *s) { free(s); }

const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, 2, "abi_1_2",
	open_, lookup, generation, close_, release,
	/* read-only: no write side */
	NULL, NULL, NULL, NULL, NULL, NULL,
	/* 1.3's members, which the loader does not read from a 1.2 table */
	0, NULL, NULL,
};
