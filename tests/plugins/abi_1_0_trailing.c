/* A 1.0 backend whose table is followed in memory by what would be the 1.1
 * members, all set to functions that abort.  A loader that read past the
 * 1.0 table would take this backend for a writable one. */
#include <stdint.h>
#include <stdlib.h>

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
	(void)h, (void)domain, (void)record, (void)error;
	return 1;
}

static int generation(void *h, uint64_t *gen, char **error)
{
	(void)h, (void)error;
	*gen = 1;
	return 0;
}

static void close_(void *h) { (void)h; }
static void release(char *s) { free(s); }
static void trap(void) { abort(); }

const struct {
	struct table_1_0 table;
	void (*after[6])(void);
} mxd_backend = {
	{1, 0, "abi_1_0_trailing", open_, lookup, generation, close_, release},
	{trap, trap, trap, trap, trap, trap},
};
