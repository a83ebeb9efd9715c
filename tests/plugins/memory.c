/* A backend serving records from a configuration of the form
 * {"records": {"example.org": "{...json...}", ...}} held as one string: the
 * tests use it to drive the core's directory and responder without TOML.
 * Its generation is read from the file named by "generation_file" on each
 * call, so a test can bump it; when the file says "down", lookups and the
 * generation check fail, as with a database that went away. */
#include <mxdelegate/backend.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct handle {
	char *config;
	char gen_file[512];
};

static char *dup(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

/* Finds "key" in the flat {"k":"v"} table encoded inside "records", where
 * values are JSON texts with their quotes escaped as \" . */
static char *find(const char *config, const char *domain)
{
	char needle[600];
	snprintf(needle, sizeof needle, "\"%s\":\"", domain);
	const char *p = strstr(config, needle);
	if (!p)
		return NULL;
	p += strlen(needle);
	char *out = malloc(strlen(p) + 1), *o = out;
	for (; *p && *p != '"'; ++p) {
		if (*p == '\\' && p[1])
			++p;
		*o++ = *p;
	}
	*o = 0;
	return out;
}

static int open_(const char *config, const struct mxd_host *host, void **out, char **error)
{
	(void)host;
	(void)error;
	struct handle *h = calloc(1, sizeof *h);
	h->config = dup(config);
	const char *g = strstr(config, "\"generation_file\":\"");
	if (g) {
		g += strlen("\"generation_file\":\"");
		size_t n = strcspn(g, "\"");
		if (n >= sizeof h->gen_file)
			n = sizeof h->gen_file - 1;
		memcpy(h->gen_file, g, n);
	}
	*out = h;
	return MXD_OK;
}

static int is_down(const struct handle *h)
{
	char word[5] = "";
	FILE *f = h->gen_file[0] ? fopen(h->gen_file, "r") : NULL;
	if (!f)
		return 0;
	int down = fscanf(f, "%4s", word) == 1 && strcmp(word, "down") == 0;
	fclose(f);
	return down;
}

static int lookup(void *hv, const char *domain, char **record, char **error)
{
	struct handle *h = hv;
	if (is_down(h)) {
		*error = dup("memory: the store is down");
		return MXD_ERROR;
	}
	char *r = find(h->config, domain);
	if (!r)
		return MXD_NOT_FOUND;
	*record = r;
	return MXD_OK;
}

static int generation(void *hv, uint64_t *gen, char **error)
{
	struct handle *h = hv;
	*gen = 0;
	if (is_down(h)) {
		*error = dup("memory: the store is down");
		return MXD_ERROR;
	}
	if (h->gen_file[0]) {
		FILE *f = fopen(h->gen_file, "r");
		if (f) {
			unsigned long long v = 0;
			if (fscanf(f, "%llu", &v) == 1)
				*gen = v;
			fclose(f);
		}
	}
	return MXD_OK;
}

static void close_(void *hv)
{
	struct handle *h = hv;
	free(h->config);
	free(h);
}

static void release(char *s) { free(s); }

const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "memory",
	open_, lookup, generation, close_, release,
	/* read-only: no write side */
	NULL, NULL, NULL, NULL, NULL, NULL,
	0, NULL, NULL, /* 1.3: no flags, no renderings */
};
