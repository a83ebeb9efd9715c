/* A backend built before ABI 1.1: its table ends at free_string, and the
 * exported object is exactly that long (the test reads its symbol size).
 * The loader must not read past it: under AddressSanitizer a read of the
 * 1.1 members would be a global-buffer-overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The 1.0 layout, spelled out: this file must not follow the header's. */
struct mxd_host;
struct table_1_0 {
	uint32_t abi_major;
	uint32_t abi_minor;
	const char *name;
	int (*open)(const char *, const struct mxd_host *, void **, char **);
	int (*lookup)(void *, const char *, char **, char **);
	int (*generation)(void *, uint64_t *, char **);
	void (*close)(void *);
	void (*free_string)(char *);
};

static int handle;

static int open_(const char *config, const struct mxd_host *host, void **out, char **error)
{
	(void)config, (void)host, (void)error;
	*out = &handle;
	return 0;
}

static int lookup(void *h, const char *domain, char **record, char **error)
{
	(void)h, (void)error;
	if (strcmp(domain, "example.org") != 0)
		return 1;
	const char *r = "{\"server\":\"matrix.example.org:443\"}";
	*record = malloc(strlen(r) + 1);
	strcpy(*record, r);
	return 0;
}

static int generation(void *h, uint64_t *gen, char **error)
{
	(void)h, (void)error;
	*gen = 10;
	return 0;
}

static void close_(void *h) { (void)h; }
static void release(char *s) { free(s); }

const struct table_1_0 mxd_backend = {
	1, 0, "abi_1_0", open_, lookup, generation, close_, release,
};
