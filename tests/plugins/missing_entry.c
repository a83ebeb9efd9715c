/* A backend whose table lacks lookup(). */
#include <mxdelegate/backend.h>
#include <stdlib.h>

static void release(char *s) { free(s); }

const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "missing_entry",
	NULL, NULL, NULL, NULL, release,
	NULL, NULL, NULL, NULL, NULL, NULL,
	0, NULL, NULL, /* 1.3: no flags, no renderings */
};
