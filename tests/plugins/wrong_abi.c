/* A backend built for a future major ABI: refused before any call.  Every
 * entry aborts, so a loader that called one would kill the test. */
#include <mxdelegate/backend.h>
#include <stdlib.h>

static int open_(const char *c, const struct mxd_host *h, void **o, char **e)
{
	(void)c, (void)h, (void)o, (void)e;
	abort();
}
static int lookup(void *h, const char *d, char **r, char **e)
{
	(void)h, (void)d, (void)r, (void)e;
	abort();
}
static int generation(void *h, uint64_t *g, char **e)
{
	(void)h, (void)g, (void)e;
	abort();
}
static void close_(void *h) { (void)h; abort(); }
static void release(char *s) { (void)s; abort(); }

const struct mxd_backend mxd_backend = {
	2, 7, "wrong_abi", open_, lookup, generation, close_, release,
	NULL, NULL, NULL, NULL, NULL, NULL,
	0, NULL, NULL, /* 1.3: no flags, no renderings */
};
