/* A backend built against ABI 1.1: a whole table with the write side, and a
 * host that ends at log.  It keeps up to eight records in memory, so that
 * the test can prove the loader copies a 1.1 table's write side, and logs
 * through the host as a 1.1 plugin sees it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 1.1 layout, spelled out: this file must not follow the header's. */
struct host_1_1 {
	void *ctx;
	void (*log)(void *ctx, int level, const char *message);
};
struct table_1_1 {
	uint32_t abi_major;
	uint32_t abi_minor;
	const char *name;
	int (*open)(const char *, const struct host_1_1 *, void **, char **);
	int (*lookup)(void *, const char *, char **, char **);
	int (*generation)(void *, uint64_t *, char **);
	void (*close)(void *);
	void (*free_string)(char *);
	int (*list)(void *, int (*)(void *, const char *, const char *), void *, char **);
	int (*put)(void *, const char *, const char *, char **);
	int (*remove)(void *, const char *, char **);
	int (*begin)(void *, char **);
	int (*commit)(void *, char **);
	int (*rollback)(void *, char **);
};

enum { OK = 0, NOT_FOUND = 1, ERROR = 2, INVALID = 4, LOG_INFO = 6 };

struct record {
	char domain[64];
	char json[192];
};

/* The records, and the ones a rollback goes back to.  One handle at a time:
 * the test opens no second one. */
static struct store {
	struct record r[8];
	size_t n;
} live, saved;
static int in_transaction;
static uint64_t gen = 1;

static char *dup(const char *s)
{
	char *d = malloc(strlen(s) + 1);
	if (d)
		strcpy(d, s);
	return d;
}

static int fail(char **error, int rc, const char *message)
{
	*error = dup(message);
	return rc;
}

static struct record *find(const char *domain)
{
	for (size_t i = 0; i < live.n; ++i)
		if (strcmp(live.r[i].domain, domain) == 0)
			return &live.r[i];
	return NULL;
}

static int open_(const char *config, const struct host_1_1 *host, void **out, char **error)
{
	(void)config, (void)error;
	if (host && host->log)
		host->log(host->ctx, LOG_INFO, "abi_1_1: opened");
	live.n = 0;
	in_transaction = 0;
	*out = &live;
	return OK;
}

static int lookup(void *h, const char *domain, char **record, char **error)
{
	(void)h;
	const struct record *r = find(domain);
	if (!r)
		return NOT_FOUND;
	if (!(*record = dup(r->json)))
		return fail(error, ERROR, "abi_1_1: out of memory");
	return OK;
}

static int generation(void *h, uint64_t *out, char **error)
{
	(void)h, (void)error;
	*out = gen;
	return OK;
}

static void close_(void *h) { (void)h; }
static void release(char *s) { free(s); }

static int by_domain(const void *a, const void *b)
{
	return strcmp(((const struct record *)a)->domain, ((const struct record *)b)->domain);
}

static int list(void *h, int (*each)(void *, const char *, const char *), void *ctx, char **error)
{
	(void)h, (void)error;
	struct store sorted = live;
	qsort(sorted.r, sorted.n, sizeof sorted.r[0], by_domain);
	for (size_t i = 0; i < sorted.n; ++i)
		if (each(ctx, sorted.r[i].domain, sorted.r[i].json))
			break;
	return OK;
}

static int put(void *h, const char *domain, const char *json, char **error)
{
	(void)h;
	if (strlen(domain) >= sizeof live.r[0].domain || strlen(json) >= sizeof live.r[0].json ||
	    json[0] != '{')
		return fail(error, INVALID, "abi_1_1: record refused");
	struct record *r = find(domain);
	if (!r) {
		if (live.n == sizeof live.r / sizeof live.r[0])
			return fail(error, ERROR, "abi_1_1: store full");
		r = &live.r[live.n++];
		snprintf(r->domain, sizeof r->domain, "%s", domain);
	}
	snprintf(r->json, sizeof r->json, "%s", json);
	++gen;
	return OK;
}

static int remove_(void *h, const char *domain, char **error)
{
	(void)h, (void)error;
	struct record *r = find(domain);
	if (!r)
		return NOT_FOUND;
	*r = live.r[--live.n];
	++gen;
	return OK;
}

static int begin(void *h, char **error)
{
	(void)h;
	if (in_transaction)
		return fail(error, ERROR, "abi_1_1: transactions do not nest");
	saved = live;
	in_transaction = 1;
	return OK;
}

static int end(char **error, int keep)
{
	if (!in_transaction)
		return fail(error, ERROR, "abi_1_1: no transaction");
	if (!keep)
		live = saved;
	in_transaction = 0;
	return OK;
}

static int commit(void *h, char **error) { (void)h; return end(error, 1); }
static int rollback(void *h, char **error) { (void)h; return end(error, 0); }

const struct table_1_1 mxd_backend = {
	1, 1, "abi_1_1", open_, lookup, generation, close_, release,
	list, put, remove_, begin, commit, rollback,
};
