/*
 * mxdelegate backend plugin interface.
 *
 * A backend is a shared object that exports one const data object named
 * MXD_BACKEND_SYMBOL ("mxd_backend") of type struct mxd_backend.  The loader
 * dlopen()s the plugin with RTLD_NOW | RTLD_LOCAL, reads abi_major and
 * abi_minor before it calls any plugin code, refuses another major version,
 * and reads members appended by a later minor version only when the plugin's
 * abi_minor says they exist.  Members are only ever appended.
 *
 * Rules at this boundary:
 *  - Nothing but C types cross it: no C++ type, and no exception may escape an
 *    entry point (a C++ backend catches everything and returns MXD_ERROR).
 *  - Every string a plugin hands out (record JSON, error messages) was
 *    allocated by the plugin and is released by the core with the plugin's
 *    own free_string(), never with free().
 *  - Results are named: MXD_OK / MXD_NOT_FOUND / MXD_ERROR; a NULL never
 *    stands for two things.
 *
 * Thread-safety contract:
 *  - open() and close() are called from one thread, never concurrently with
 *    any other call on the same handle.
 *  - lookup() and generation() may be called concurrently from any number of
 *    threads on the same handle; the plugin synchronises itself.
 *  - list() may be called concurrently with lookup() and generation() on a
 *    handle opened for reading.
 *  - On a handle opened for writing ("access" in open()'s configuration, see
 *    below) every call comes from one thread at a time: the admin tool is
 *    single-threaded, so the write side needs no locking of its own.
 *  - Different handles of one plugin are independent (a reload opens a second
 *    handle while the first still serves; the admin tool may write through
 *    one handle while a responder reads through others, in other processes).
 *
 * ABI history:
 *  1.0  open, lookup, generation, close, free_string.
 *  1.1  the optional write side, appended after free_string: list, put,
 *       remove, begin, commit, rollback; the "access" key of open()'s
 *       configuration; the results MXD_BUSY, MXD_INVALID and MXD_NO_STORE.
 *       A backend that leaves them NULL is read-only, and the admin tool
 *       says so.  A 1.0 table ends at free_string: the loader never reads
 *       past it.
 *  1.2  struct mxd_host grows abi_minor, appended after log: the core's own
 *       minor version, so that the host can grow as the table does (see
 *       struct mxd_host).  The table is the same as in 1.1.
 *  1.3  appended after rollback, all optional: flags (MXD_IN_MEMORY), and
 *       renderings kept beside the records: lookup_rendered and
 *       store_rendered.  A 1.1 or 1.2 table ends at rollback.
 */
#ifndef MXDELEGATE_BACKEND_H
#define MXDELEGATE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MXD_BACKEND_ABI_MAJOR 1
#define MXD_BACKEND_ABI_MINOR 3
#define MXD_BACKEND_SYMBOL "mxd_backend"

enum mxd_status {
	MXD_OK = 0,        /* found / done */
	MXD_NOT_FOUND = 1, /* lookup: no record for this exact key */
	MXD_ERROR = 2,     /* failure; *error holds a message */
	/* Since 1.1.  Each comes with a message in *error, as MXD_ERROR does,
	 * so that a core that knows only 1.0 reads them as failures. */
	MXD_BUSY = 3,      /* the store stayed locked longer than the plugin
	                      waits for it: try again later */
	MXD_INVALID = 4,   /* put(): the domain or the record was refused; the
	                      message says "domain: field: problem" */
	MXD_NO_STORE = 5   /* the store does not exist: from open() with
	                      "access": "write" ("create" makes it), or from a
	                      call on a handle whose store is gone */
};

/* struct mxd_backend's flags (since 1.3). */
/* Every record is held in memory: list() does no I/O, so the responder may
 * read and render every record when it opens the handle. */
#define MXD_IN_MEMORY 1u

enum mxd_log_level { MXD_LOG_ERR = 3, MXD_LOG_WARNING = 4, MXD_LOG_INFO = 6 };

/*
 * What the core offers a plugin, passed to open().  The core hands every
 * plugin the same host, whatever the plugin's abi_minor, and it stays valid
 * until close() of the handle: keep the pointer.  Members are only ever
 * appended, so a plugin built against 1.0 or 1.1 finds ctx and log where it
 * expects them and reads nothing after them.
 *
 * How a plugin reads it:
 *  - host itself may be NULL (mxdelegate-backend(7)): check it first.
 *  - ctx and log are there in every version.
 *  - abi_minor (since 1.2) is there when the core is 1.2 or later.  A 1.0 or
 *    1.1 core passes ctx and log alone, and it loads plugins of any 1.x minor:
 *    a plugin that reads abi_minor needs a core of 1.2 or later, which is the
 *    core whose header it was built against when both come from one install.
 *  - A member appended by a later minor version N is there only when
 *    host->abi_minor >= N: check before reading it.
 *  - Never copy the struct whole (`*host`): the copy reads sizeof(struct
 *    mxd_host) as the plugin's header has it, which is more than an earlier
 *    core passes.  Keep the pointer, or copy the members you checked.
 *
 * What the core guarantees: abi_minor is the core's MXD_BACKEND_ABI_MINOR
 * (2 or more; the major is the plugin's, since the loader refuses another);
 * every member up to that version is there; log is never NULL (ctx is the
 * core's and may be NULL: pass it on as it is).  What the core reads
 * from the plugin's table depends on the plugin's abi_minor; what it passes
 * here does not.
 */
struct mxd_host {
	void *ctx;
	/* The core's logger: one line per call, no newline needed; safe to call
	 * from any thread. */
	void (*log)(void *ctx, int level, const char *message);
	/* Since 1.2: the core's MXD_BACKEND_ABI_MINOR. */
	uint32_t abi_minor;
};

struct mxd_backend {
	/* ABI version: first, so the loader can read it before anything else. */
	uint32_t abi_major;
	uint32_t abi_minor;
	/* Short name, the one used in "[backend] name". */
	const char *name;

	/*
	 * Open the data source.  config_json is a JSON object: the keys of the
	 * configuration's [backend] table that belong to the plugin, plus
	 * "config_file" (absolute path of the configuration file) and
	 * "config_dir" (its directory, for relative paths).  The admin tool adds
	 * "access": "write" to open the store for the write side, or "create" to
	 * also create the store or migrate it to the plugin's schema; without
	 * "access" (the responder never passes it) the store is opened read-only.
	 * A plugin without a write side refuses "access".  On success stores an
	 * opaque handle in *handle and returns MXD_OK.  On failure returns
	 * MXD_ERROR with a message in *error; a message may hold several lines,
	 * one problem each, as "file:line:column: domain: field: message".
	 * Every record is validated here: a handle never serves an invalid one.
	 */
	int (*open)(const char *config_json, const struct mxd_host *host,
	            void **handle, char **error);

	/*
	 * Look up the record stored under exactly this key (a normalised host
	 * name, or a wildcard key such as "*.example.net").  MXD_OK: *record_json
	 * holds the record as a JSON object text.  MXD_NOT_FOUND: no record, both
	 * outputs untouched.  MXD_ERROR: *error holds a message.
	 */
	int (*lookup)(void *handle, const char *domain, char **record_json,
	              char **error);

	/*
	 * A number that changes whenever the data may have changed, so that the
	 * core drops what it cached.  Called periodically; the plugin may use the
	 * call to notice changes (a file's mtime, PRAGMA data_version).
	 */
	int (*generation)(void *handle, uint64_t *generation, char **error);

	void (*close)(void *handle);

	/* Releases any string this plugin handed out. */
	void (*free_string)(char *s);

	/*
	 * ABI 1.1: the write side.  Every member below is optional: NULL in a
	 * read-only backend.  The loader reads them only when abi_minor >= 1.
	 * A backend is writable when all six are set; list alone may be set by
	 * a backend that can enumerate but not write.
	 */

	/*
	 * Calls each() once per record, in ascending byte order of the domain,
	 * with the key and the record as lookup() would return it; both strings
	 * belong to the plugin and are valid during the call only.  each()
	 * returns 0 to go on and nonzero to stop; list() then returns MXD_OK as
	 * after the last record.  each() never throws and never calls back into
	 * the handle.  Works on a handle opened for reading or writing; inside a
	 * transaction it sees the transaction's own changes.
	 */
	int (*list)(void *handle,
	            int (*each)(void *ctx, const char *domain, const char *record_json),
	            void *ctx, char **error);

	/*
	 * Inserts or replaces the record stored under domain, a canonical key
	 * (A-labels, lower case, no trailing dot; or a wildcard "*.example.net").
	 * The plugin validates the record as open() does and answers MXD_INVALID
	 * for a record or key it refuses.  Needs a handle opened with "access".
	 */
	int (*put)(void *handle, const char *domain, const char *record_json, char **error);

	/* Removes the record stored under domain; MXD_NOT_FOUND when there is
	 * none.  Needs a handle opened with "access". */
	int (*remove)(void *handle, const char *domain, char **error);

	/*
	 * One transaction around many put() and remove() calls (a bulk import):
	 * readers see all of them at commit() or none.  begin() takes the write
	 * lock at once, so that a lookup() made inside the transaction decides
	 * what the commit changes.  Without begin(), each put() and remove()
	 * stands alone.  Transactions do not nest.
	 */
	int (*begin)(void *handle, char **error);
	int (*commit)(void *handle, char **error);
	int (*rollback)(void *handle, char **error);

	/*
	 * ABI 1.3, all optional; the loader reads them only when abi_minor >= 3.
	 */

	/* MXD_IN_MEMORY, or 0. */
	uint32_t flags;

	/*
	 * Renderings kept beside the records ("render on write").  When the
	 * admin tool writes a record stored under an exact name (never a
	 * wildcard key), the core validates it with the [defaults] in force,
	 * renders its documents, and hands the plugin the result as opaque
	 * bytes with a fingerprint: a short printable string naming what the
	 * rendering depends on besides the record (the core's [defaults] and
	 * [http] settings, the renderer's version).  The plugin keeps both with
	 * a digest of the record's stored bytes as they are then, and hands the
	 * bytes back only while that digest still holds and the fingerprint is
	 * the one asked for.  A record changed around the plugin (by SQL) or
	 * rewritten by put() therefore loses its rendering, and the core falls
	 * back to reading, validating and rendering the record itself.
	 *
	 * Both are set or both are NULL.
	 */

	/*
	 * As lookup(), with one more outcome: MXD_OK with *rendered (its size in
	 * *rendered_size) and *record_json untouched, when the store holds a
	 * rendering of the record as it is now, made under this fingerprint.
	 * Otherwise exactly as lookup(): MXD_OK with *record_json, MXD_NOT_FOUND,
	 * or MXD_ERROR.  *rendered is released with free_string().  Called
	 * concurrently, as lookup() is.
	 */
	int (*lookup_rendered)(void *handle, const char *domain, const char *fingerprint,
	                       char **record_json, char **rendered, size_t *rendered_size,
	                       char **error);

	/*
	 * Keeps `rendered` as the rendering, under fingerprint, of the record
	 * stored under domain now; rendered == NULL forgets the one kept.
	 * MXD_NOT_FOUND when no record is stored under domain.  Needs a handle
	 * opened with "access"; inside begin() and commit() when called there.
	 */
	int (*store_rendered)(void *handle, const char *domain, const char *fingerprint,
	                      const char *rendered, size_t rendered_size, char **error);
};

#ifdef __cplusplus
}
#endif

#endif /* MXDELEGATE_BACKEND_H */
