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
 *  - Different handles of one plugin are independent (a reload opens a second
 *    handle while the first still serves).
 */
#ifndef MXDELEGATE_BACKEND_H
#define MXDELEGATE_BACKEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MXD_BACKEND_ABI_MAJOR 1
#define MXD_BACKEND_ABI_MINOR 0
#define MXD_BACKEND_SYMBOL "mxd_backend"

enum mxd_status {
	MXD_OK = 0,        /* found / done */
	MXD_NOT_FOUND = 1, /* lookup: no record for this exact key */
	MXD_ERROR = 2      /* failure; *error holds a message */
};

enum mxd_log_level { MXD_LOG_ERR = 3, MXD_LOG_WARNING = 4, MXD_LOG_INFO = 6 };

/* What the core offers a plugin: its logger (one line per call, no newline
 * needed; safe to call from any thread). */
struct mxd_host {
	void *ctx;
	void (*log)(void *ctx, int level, const char *message);
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
	 * "config_dir" (its directory, for relative paths).  On success stores an
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
};

#ifdef __cplusplus
}
#endif

#endif /* MXDELEGATE_BACKEND_H */
