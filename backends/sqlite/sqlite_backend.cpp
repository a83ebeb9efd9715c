// The SQLite backend: records in an SQLite database, one row per domain.
//
// Two kinds of handle share this file:
//  - read (the responder): SQLITE_OPEN_READONLY and query_only, so that it
//    works as a user that can write neither the database nor its folder.
//    Lookups are concurrent: each borrows a connection from a small pool (one
//    per thread that is inside a lookup at once) with its prepared statement.
//    A database that is missing, unreadable, corrupt or of another schema
//    does not fail open(): lookups answer MXD_ERROR (the core's 503,
//    no-store) and the handle tries again after a short backoff, so service
//    resumes once the file is fixed, without a restart.
//  - write ("access": "write" or "create", the admin tool): one connection,
//    one thread, the write side of ABI 1.1.
//
// The database stays in rollback-journal mode (journal_mode=DELETE): a WAL
// database cannot be opened read-only from a folder the reader cannot write
// unless a writer happens to hold it open (its -shm must exist), which is
// exactly the responder's situation.  A new database is made mode 0644
// whatever the umask, so that an unprivileged responder can read it; SQLite
// gives its journal the same mode.
#include <mxdelegate/backend.h>

#include "core/log.hpp"
#include "plugin/plugin_record.hpp"
#include "plugin/plugin_strings.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace mxd {
namespace {

using json = nlohmann::json;

// The schema this plugin reads and writes (PRAGMA user_version), and the
// text that creates it (backends/sqlite/schema.sql, embedded by the Makefile).
constexpr int schema_version = 1;
constexpr const char schema_sql[] =
#include "schema.inc"
	;

// How long a lookup waits for a writer's lock before it answers 503.
constexpr int default_busy_timeout_ms = 2000;
// After a failure to open the database, lookups answer at once with that
// failure for this long, then one of them tries again.
constexpr std::chrono::milliseconds retry_backoff{250};

// A failure with the result it is reported as and a message shown as it is.
using plugin::Failure;

enum class Access { read, write, create };

struct Settings {
	std::string path;
	Access access = Access::read;
	int busy_timeout_ms = default_busy_timeout_ms;
};

// strerror() may share a buffer between threads; this does not.
std::string reason(int error)
{
	return std::generic_category().message(error);
}

// Keys and values may hold any byte: a message stays one line.
std::string printable(std::string_view s) { return log::one_line(s); }

Settings configure(const char *config_json)
{
	if (!config_json)
		throw Failure(MXD_ERROR, "sqlite: no configuration");
	const json config = json::parse(config_json);
	if (!config.is_object())
		throw Failure(MXD_ERROR, "sqlite: configuration is not a JSON object");
	Settings s;
	std::string path, config_dir;
	for (const auto &[key, value] : config.items()) {
		if (key == "path" || key == "config_file" || key == "config_dir" || key == "access") {
			if (!value.is_string())
				throw Failure(MXD_ERROR, "sqlite: [backend] " + key + ": must be a string");
			const auto &v = value.get_ref<const std::string &>();
			if (key == "path")
				path = v;
			else if (key == "config_dir")
				config_dir = v;
			else if (key == "access") {
				if (v == "read")
					s.access = Access::read;
				else if (v == "write")
					s.access = Access::write;
				else if (v == "create")
					s.access = Access::create;
				else
					throw Failure(MXD_ERROR, "sqlite: access: \"" + printable(v) +
					                             "\" is not read, write or create");
			}
		} else if (key == "busy_timeout") {
			if (!value.is_number_integer() || value.get<std::int64_t>() < 0 ||
			    value.get<std::int64_t>() > 60000)
				throw Failure(MXD_ERROR, "sqlite: [backend] busy_timeout: must be an integer "
				                         "number of milliseconds from 0 to 60000");
			s.busy_timeout_ms = value.get<int>();
		} else {
			throw Failure(MXD_ERROR, "sqlite: unknown key in [backend]: " + printable(key) +
			                             " (known: path, busy_timeout)");
		}
	}
	if (path.empty())
		throw Failure(MXD_ERROR, "sqlite: [backend] path: missing; the database file, such as "
		                         "\"/var/lib/mxdelegate/domains.db\"");
	namespace fs = std::filesystem;
	fs::path p(path);
	if (p.is_relative() && !config_dir.empty())
		p = fs::path(config_dir) / p;
	s.path = p.lexically_normal().string();
	return s;
}

// "sqlite: PATH: what went wrong", with what SQLite does not say itself.
// `db`, when given, is the connection that failed: a failed write names
// the system's reason ("disk I/O error" alone does not say "File too large").
std::string describe(const Settings &s, const SQLite::Exception &e, sqlite3 *db = nullptr)
{
	const std::string where = "sqlite: " + s.path + ": ";
	if (db && (e.getErrorCode() == SQLITE_IOERR || e.getErrorCode() == SQLITE_FULL)) {
		// The unix VFS keeps the errno of the database file's last failed
		// call; sqlite3_system_errno() may have seen a later one.
		int err = 0;
		if (sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO, &err) != SQLITE_OK || err == 0)
			err = sqlite3_system_errno(db);
		if (err != 0)
			return where + e.what() + " (" + reason(err) + ")";
	}
	switch (e.getExtendedErrorCode()) {
	case SQLITE_READONLY_ROLLBACK:
		return where + "an interrupted write left a hot journal that a read-only reader "
		               "cannot roll back; run \"mxdelegatectl init\" as the database's owner";
	default:
		break;
	}
	switch (e.getErrorCode()) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return where + "the database stayed locked by a writer for more than " +
		       std::to_string(s.busy_timeout_ms) + " ms";
	case SQLITE_CANTOPEN: {
		// SQLite says "unable to open database file"; the errno says why.
		struct stat st;
		if (::stat(s.path.c_str(), &st) != 0)
			return where + reason(errno);
		if (!S_ISREG(st.st_mode))
			return where + "not a regular file";
		if (::access(s.path.c_str(), R_OK) != 0)
			return where + reason(errno);
		return where + e.what();
	}
	case SQLITE_NOTADB:
		return where + "not an SQLite database (file is not a database)";
	case SQLITE_CORRUPT:
		return where + "the database is corrupt (" + e.what() + ")";
	default:
		return where + e.what();
	}
}

int status_of(const SQLite::Exception &e)
{
	const int code = e.getErrorCode();
	return code == SQLITE_BUSY || code == SQLITE_LOCKED ? MXD_BUSY : MXD_ERROR;
}

int user_version(SQLite::Database &db)
{
	return db.execAndGet("PRAGMA user_version").getInt();
}

// The responder's refusal of a database it cannot read correctly.
void require_version(const Settings &s, int found)
{
	if (found == schema_version)
		return;
	if (found == 0)
		throw Failure(MXD_ERROR, "sqlite: " + s.path + ": not an mxdelegate database yet "
		              "(schema version 0, expected " + std::to_string(schema_version) +
		              "); run \"mxdelegatectl init\" to create the schema");
	if (found < schema_version)
		throw Failure(MXD_ERROR, "sqlite: " + s.path + ": schema version " +
		              std::to_string(found) + ", expected " + std::to_string(schema_version) +
		              "; run \"mxdelegatectl init\" to migrate it");
	throw Failure(MXD_ERROR, "sqlite: " + s.path + ": schema version " + std::to_string(found) +
	              " is newer than this mxdelegate knows (" + std::to_string(schema_version) +
	              "); upgrade mxdelegate, or restore a database of schema version " +
	              std::to_string(schema_version));
}

constexpr const char *lookup_sql =
	"SELECT server, client, client_extra, support, policy_server, max_age, note "
	"FROM domains WHERE domain = ?1";

constexpr const char *list_sql =
	"SELECT domain, server, client, client_extra, support, policy_server, max_age, note "
	"FROM domains ORDER BY domain";

// The record of the row `stmt` is on, its columns starting at `first`, as
// the JSON text lookup() hands out.  The columns are checked again: the
// file may have been edited by hand.
std::string record_of(const Settings &s, SQLite::Statement &stmt, int first,
                      std::string_view domain)
{
	json r = json::object();
	auto bad = [&](const char *column, std::string_view why) {
		return Failure(MXD_ERROR, "sqlite: " + s.path + ": " + printable(domain) + ": " + column +
		                              ": " + std::string(why));
	};
	static constexpr const char *text_columns[] = {"server", "client"};
	for (int i = 0; i < 2; i++) {
		const SQLite::Column c = stmt.getColumn(first + i);
		if (c.isNull())
			continue;
		if (!c.isText())
			throw bad(text_columns[i], "is not text");
		r[text_columns[i]] = c.getString();
	}
	static constexpr const char *json_columns[] = {"client_extra", "support", "policy_server"};
	for (int i = 0; i < 3; i++) {
		const SQLite::Column c = stmt.getColumn(first + 2 + i);
		if (c.isNull())
			continue;
		if (!c.isText())
			throw bad(json_columns[i], "is not JSON text");
		json v = json::parse(c.getString(), nullptr, false);
		if (!v.is_object())
			throw bad(json_columns[i], "is not a JSON object");
		r[json_columns[i]] = std::move(v);
	}
	if (const SQLite::Column c = stmt.getColumn(first + 5); !c.isNull()) {
		if (!c.isInteger())
			throw bad("max_age", "is not an integer");
		r["max_age"] = c.getInt64();
	}
	if (const SQLite::Column c = stmt.getColumn(first + 6); !c.isNull()) {
		if (!c.isText())
			throw bad("note", "is not text");
		r["note"] = c.getString();
	}
	return r.dump();
}

// One read-only connection and its prepared lookup, used by one thread at a
// time (SQLITE_OPEN_NOMUTEX: the pool does the locking).
struct Reader {
	SQLite::Database db;
	SQLite::Statement lookup;
	std::uint64_t epoch;

	static SQLite::Database open(const Settings &s)
	{
		SQLite::Database db(s.path, SQLite::OPEN_READONLY | SQLITE_OPEN_NOMUTEX, s.busy_timeout_ms);
		// Belt and braces: even a read-write file is never written here.
		db.exec("PRAGMA query_only = 1");
		// One page cache per reader thread: SQLite's default (2 MB) each
		// was a third of the responder's memory.  512 KiB holds the upper
		// levels of a 1,000,000-domain B-tree; the rest comes from the
		// kernel's page cache, which all readers share.
		db.exec("PRAGMA cache_size = -512");
		// Reading the version also reads the header: garbage fails here.
		require_version(s, user_version(db));
		return db;
	}

	Reader(const Settings &s, std::uint64_t e) : db(open(s)), lookup(db, lookup_sql), epoch(e) {}
};

std::string timestamp()
{
	const std::time_t now = std::time(nullptr);
	std::tm tm{};
	gmtime_r(&now, &tm);
	char buf[32];
	std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

// Makes a new database file mode 0644 whatever the umask: the responder,
// another user, must read it.  SQLite gives its journal the same mode.
void create_file(const Settings &s)
{
	const int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return;
		throw Failure(MXD_ERROR, "sqlite: cannot create " + s.path + ": " + reason(errno));
	}
	const int rc = ::fchmod(fd, 0644);
	const int saved = errno;
	::close(fd);
	if (rc != 0)
		throw Failure(MXD_ERROR, "sqlite: " + s.path + ": cannot set mode 0644: " + reason(saved));
}

// The admin tool's connection: one thread, statements prepared once.
class Writer {
public:
	explicit Writer(const Settings &s) : db_(open(s)), lookup_(db_, lookup_sql),
		upsert_(db_,
		        "INSERT INTO domains (domain, server, client, client_extra, support, "
		        "policy_server, max_age, note, created, updated) "
		        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
		        "ON CONFLICT (domain) DO UPDATE SET server = excluded.server, "
		        "client = excluded.client, client_extra = excluded.client_extra, "
		        "support = excluded.support, policy_server = excluded.policy_server, "
		        "max_age = excluded.max_age, note = excluded.note, updated = excluded.updated "
		        // An unchanged record keeps its time of last change.
		        "WHERE (server, client, client_extra, support, policy_server, max_age, note) "
		        "IS NOT (excluded.server, excluded.client, excluded.client_extra, "
		        "excluded.support, excluded.policy_server, excluded.max_age, excluded.note)"),
		remove_(db_, "DELETE FROM domains WHERE domain = ?1")
	{
	}

	SQLite::Database &db() { return db_; }
	SQLite::Statement &lookup() { return lookup_; }

	void put(const std::string &domain, const json &record)
	{
		upsert_.reset();
		upsert_.clearBindings();
		upsert_.bind(1, domain);
		int i = 2;
		for (const char *k : {"server", "client"}) {
			if (auto it = record.find(k); it != record.end())
				upsert_.bind(i, it->get_ref<const std::string &>());
			i++;
		}
		for (const char *k : {"client_extra", "support", "policy_server"}) {
			if (auto it = record.find(k); it != record.end())
				upsert_.bind(i, it->dump());
			i++;
		}
		if (auto it = record.find("max_age"); it != record.end())
			upsert_.bind(7, it->get<std::int64_t>());
		if (auto it = record.find("note"); it != record.end())
			upsert_.bind(8, it->get_ref<const std::string &>());
		// One time for a whole import; std::time() is cheap, strftime less.
		if (const std::time_t now = std::time(nullptr); now != stamped_) {
			stamped_ = now;
			stamp_ = timestamp();
		}
		upsert_.bind(9, stamp_);
		upsert_.exec();
		upsert_.reset();
	}

	bool remove(const std::string &domain)
	{
		remove_.reset();
		remove_.bind(1, domain);
		const int n = remove_.exec();
		remove_.reset();
		return n > 0;
	}

private:
	static SQLite::Database open(const Settings &s)
	{
		struct stat st;
		if (s.access == Access::create)
			create_file(s);
		else if (::stat(s.path.c_str(), &st) != 0)
			throw Failure(errno == ENOENT ? MXD_NO_STORE : MXD_ERROR,
			              "sqlite: " + s.path + ": " + reason(errno) +
			                  (errno == ENOENT ? "; \"mxdelegatectl init\" creates it" : ""));
		SQLite::Database db(s.path, SQLite::OPEN_READWRITE, s.busy_timeout_ms);
		if (sqlite3_db_readonly(db.getHandle(), "main") == 1)
			throw Failure(MXD_ERROR, "sqlite: " + s.path + ": cannot write the database: " +
			                             reason(EACCES));
		// Rollback journal, never WAL: see the top of this file.
		const std::string mode = db.execAndGet("PRAGMA journal_mode = DELETE").getString();
		if (mode != "delete")
			throw Failure(MXD_ERROR, "sqlite: " + s.path + ": journal_mode is " + mode +
			                             " and cannot be set to delete");
		// A bulk import keeps its changes in memory until the commit, so that
		// readers are not locked out for the whole import: a spill to the file
		// would take the exclusive lock early.
		db.exec("PRAGMA cache_size = -1048576");
		db.exec("PRAGMA cache_spill = OFF");
		if (s.access == Access::create)
			migrate(s, db);
		else
			require_version(s, user_version(db));
		return db;
	}

	// Creates the schema in an empty database, or (once there are older
	// versions) migrates step by step; one transaction for all of it.
	static void migrate(const Settings &s, SQLite::Database &db)
	{
		SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
		const int found = user_version(db);
		if (found == schema_version)
			return;
		if (found > schema_version)
			throw Failure(MXD_ERROR, "sqlite: " + s.path + ": schema version " +
			              std::to_string(found) + " is newer than this mxdelegatectl knows (" +
			              std::to_string(schema_version) + "); use a newer mxdelegatectl");
		if (found == 0) {
			SQLite::Statement tables(db, "SELECT name FROM sqlite_schema "
			                             "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1");
			if (tables.executeStep())
				throw Failure(MXD_ERROR, "sqlite: " + s.path + ": holds other tables (" +
				              printable(tables.getColumn(0).getString()) +
				              ") and no mxdelegate schema; refusing to add one");
			db.exec(schema_sql);
		}
		// Migrations from version N to N+1 go here as versions appear.
		if (user_version(db) != schema_version)
			throw Failure(MXD_ERROR, "sqlite: " + s.path + ": the embedded schema.sql set "
			              "user_version " + std::to_string(user_version(db)) + ", expected " +
			              std::to_string(schema_version));
		tx.commit();
	}

	SQLite::Database db_;
	SQLite::Statement lookup_, upsert_, remove_;
	std::time_t stamped_ = 0;
	std::string stamp_;
};

using Clock = std::chrono::steady_clock;

class Handle {
public:
	Handle(Settings s, const mxd_host *host)
	    : s_(std::move(s)), host_(host ? *host : mxd_host{nullptr, nullptr})
	{
		if (s_.access != Access::read)
			writer_ = std::make_unique<Writer>(s_);
	}

	const Settings &settings() const { return s_; }
	Writer *writer() { return writer_.get(); }
	// The admin tool's connection, for the reason of a failed write.
	sqlite3 *connection() const { return writer_ ? writer_->db().getHandle() : nullptr; }

	// MXD_OK with *out set, or MXD_NOT_FOUND; throws Failure.
	int lookup(const char *domain, std::string &out)
	{
		if (writer_)
			return find(writer_->lookup(), domain, out);
		auto reader = acquire();
		int rc;
		try {
			rc = find(reader->lookup, domain, out);
		} catch (const SQLite::Exception &e) {
			failed(e, std::move(reader));
			throw;
		}
		release(std::move(reader));
		return rc;
	}

	void list(int (*each)(void *, const char *, const char *), void *ctx)
	{
		if (writer_)
			return list_on(writer_->db(), each, ctx);
		auto reader = acquire();
		try {
			list_on(reader->db, each, ctx);
		} catch (const SQLite::Exception &e) {
			failed(e, std::move(reader));
			throw;
		}
		release(std::move(reader));
	}

	std::uint64_t generation()
	{
		if (writer_) // the admin tool has nothing cached
			return 1;
		std::lock_guard lock(check_);
		struct stat st;
		if (::stat(s_.path.c_str(), &st) != 0) {
			broken(st_reason(errno));
			return generation_.load();
		}
		try {
			if (!watch_ || st.st_dev != dev_ || st.st_ino != ino_) {
				// New file (or first look, or after a failure): read it anew.
				watch_.reset();
				auto db = std::make_unique<SQLite::Database>(Reader::open(watch_settings()));
				const auto version = db->execAndGet("PRAGMA data_version").getInt64();
				const bool replaced = watch_ready_ && (st.st_dev != dev_ || st.st_ino != ino_);
				watch_ = std::move(db);
				dev_ = st.st_dev;
				ino_ = st.st_ino;
				data_version_ = version;
				watch_ready_ = true;
				if (replaced || broken_)
					changed(true);
				recovered();
				return generation_.load();
			}
			const auto version = watch_->execAndGet("PRAGMA data_version").getInt64();
			if (version != data_version_) {
				// A commit elsewhere; an init may have changed the schema too.
				require_version(s_, user_version(*watch_));
				data_version_ = version;
				changed(false);
			}
		} catch (const SQLite::Exception &e) {
			// A writer holding the lock is no news: ask again next time.
			if (status_of(e) != MXD_BUSY) {
				watch_.reset();
				broken(describe(s_, e));
			}
		} catch (const Failure &e) {
			watch_.reset();
			broken(e.what());
		}
		return generation_.load();
	}

private:
	using ReaderPtr = std::unique_ptr<Reader>;

	// The watcher must not hold up the core's signal thread for long.
	Settings watch_settings() const
	{
		Settings w = s_;
		w.busy_timeout_ms = std::min(w.busy_timeout_ms, 100);
		return w;
	}

	std::string st_reason(int error) const { return "sqlite: " + s_.path + ": " + reason(error); }

	int find(SQLite::Statement &stmt, const char *domain, std::string &out)
	{
		stmt.reset();
		stmt.bindNoCopy(1, domain);
		if (!stmt.executeStep()) {
			stmt.reset();
			return MXD_NOT_FOUND;
		}
		try {
			out = record_of(s_, stmt, 0, domain);
		} catch (...) {
			stmt.reset();
			throw;
		}
		stmt.reset();
		return MXD_OK;
	}

	void list_on(SQLite::Database &db, int (*each)(void *, const char *, const char *), void *ctx)
	{
		SQLite::Statement stmt(db, list_sql);
		while (stmt.executeStep()) {
			const SQLite::Column key = stmt.getColumn(0);
			if (!key.isText())
				throw Failure(MXD_ERROR, "sqlite: " + s_.path + ": a domain key is not text");
			const std::string domain = key.getString();
			const std::string record = record_of(s_, stmt, 1, domain);
			if (each(ctx, domain.c_str(), record.c_str()) != 0)
				break;
		}
	}

	// A connection from the pool, or a new one; throws while the database
	// is known to be broken and the backoff has not passed.
	ReaderPtr acquire()
	{
		const std::uint64_t epoch = epoch_.load();
		{
			std::lock_guard lock(pool_);
			while (!idle_.empty()) {
				ReaderPtr r = std::move(idle_.back());
				idle_.pop_back();
				if (r->epoch == epoch)
					return r;
			}
		}
		{
			std::lock_guard lock(failure_);
			if (failing_ && Clock::now() < retry_at_)
				throw Failure(failure_status_, failure_message_);
		}
		try {
			auto r = std::make_unique<Reader>(s_, epoch);
			std::lock_guard lock(failure_);
			failing_ = false;
			return r;
		} catch (const SQLite::Exception &e) {
			// A missing file is named as such, so that the admin tool can
			// tell "run init" from a broken store.
			struct stat st;
			const int status = e.getErrorCode() == SQLITE_CANTOPEN &&
			                           ::stat(s_.path.c_str(), &st) != 0 && errno == ENOENT
			                       ? MXD_NO_STORE
			                       : status_of(e);
			note_failure(status, describe(s_, e));
			throw Failure(status, describe(s_, e));
		} catch (const Failure &e) {
			note_failure(e.status(), e.what());
			throw;
		}
	}

	void release(ReaderPtr r)
	{
		if (r->epoch != epoch_.load())
			return;
		std::lock_guard lock(pool_);
		idle_.push_back(std::move(r));
	}

	// A query failed: a busy connection is still good; any other failure
	// means the file changed under it, so it is dropped and the next lookup
	// opens the file anew after the backoff.
	void failed(const SQLite::Exception &e, ReaderPtr r)
	{
		if (status_of(e) == MXD_BUSY) {
			r->lookup.tryReset();
			release(std::move(r));
			return;
		}
		r.reset();
		note_failure(MXD_ERROR, describe(s_, e));
	}

	void note_failure(int status, std::string message)
	{
		// Busy is not the file's fault: the next lookup waits again.
		if (status == MXD_BUSY)
			return;
		std::lock_guard lock(failure_);
		failing_ = true;
		failure_status_ = status;
		failure_message_ = std::move(message);
		retry_at_ = Clock::now() + retry_backoff;
	}

	// The data may have changed: the core drops what it cached.  A new
	// file, or one that comes back, also retires the pooled connections,
	// which may still read the old inode.
	void changed(bool retire)
	{
		if (retire)
			epoch_.fetch_add(1);
		generation_.fetch_add(1);
	}

	void broken(const std::string &why)
	{
		if (broken_ && why == broken_why_)
			return;
		if (!broken_)
			changed(true);
		broken_ = true;
		broken_why_ = why;
		log(MXD_LOG_ERR, why + "; lookups answer 503 until it is fixed");
	}

	void recovered()
	{
		if (!broken_)
			return;
		broken_ = false;
		broken_why_.clear();
		{
			std::lock_guard lock(failure_);
			failing_ = false;
		}
		log(MXD_LOG_INFO, "sqlite: " + s_.path + ": readable again; serving from it");
	}

	void log(int level, const std::string &message) const
	{
		if (host_.log)
			host_.log(host_.ctx, level, message.c_str());
	}

	const Settings s_;
	const mxd_host host_;
	std::unique_ptr<Writer> writer_;

	// Read side: the pool, and the epoch that retires its connections.
	std::mutex pool_;
	std::vector<ReaderPtr> idle_;
	std::atomic<std::uint64_t> epoch_{0};

	std::mutex failure_;
	bool failing_ = false;
	int failure_status_ = MXD_ERROR;
	std::string failure_message_;
	Clock::time_point retry_at_;

	// generation(): its own connection, since PRAGMA data_version compares
	// only on one connection.  Guarded by check_.
	std::mutex check_;
	std::unique_ptr<SQLite::Database> watch_;
	bool watch_ready_ = false;
	dev_t dev_ = 0;
	ino_t ino_ = 0;
	std::int64_t data_version_ = 0;
	bool broken_ = false;
	std::string broken_why_;
	std::atomic<std::uint64_t> generation_{1};
};

using plugin::c_string;
using plugin::fail;

// Every entry point ends in this: no exception crosses into the core.
template <typename F>
int guarded(const char *what, const Handle *h, char **error, F &&body) noexcept
{
	try {
		return body();
	} catch (const Failure &e) {
		return fail(error, e.status(), e.what());
	} catch (const plugin::Refused &e) {
		return fail(error, MXD_INVALID, e.what());
	} catch (const SQLite::Exception &e) {
		if (h)
			return fail(error, status_of(e), describe(h->settings(), e, h->connection()));
		return fail(error, status_of(e), std::string("sqlite: ") + what + ": " + e.what());
	} catch (const std::exception &e) {
		return fail(error, MXD_ERROR, std::string("sqlite: ") + what + ": " + e.what());
	} catch (...) {
		return fail(error, MXD_ERROR, std::string("sqlite: ") + what + ": unknown error");
	}
}

Writer &writer_of(void *handle, const char *what)
{
	auto *w = static_cast<Handle *>(handle)->writer();
	if (!w)
		throw Failure(MXD_ERROR, std::string("sqlite: ") + what +
		                             ": the database was opened read-only (no \"access\")");
	return *w;
}

int plugin_open(const char *config_json, const mxd_host *host, void **handle, char **error)
{
	return guarded("open", nullptr, error, [&]() -> int {
		if (!handle)
			return fail(error, MXD_ERROR, "sqlite: open: null argument");
		Settings s = configure(config_json);
		try {
			*handle = new Handle(s, host);
		} catch (const SQLite::Exception &e) {
			return fail(error, status_of(e), describe(s, e));
		}
		return MXD_OK;
	});
}

int plugin_lookup(void *handle, const char *domain, char **record_json, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("lookup", h, error, [&]() -> int {
		if (!h || !domain || !record_json)
			return fail(error, MXD_ERROR, "sqlite: lookup: null argument");
		std::string record;
		if (h->lookup(domain, record) != MXD_OK)
			return MXD_NOT_FOUND;
		char *s = c_string(record);
		if (!s)
			return fail(error, MXD_ERROR, "sqlite: lookup: out of memory");
		*record_json = s;
		return MXD_OK;
	});
}

int plugin_generation(void *handle, std::uint64_t *generation, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("generation", h, error, [&]() -> int {
		if (!h || !generation)
			return fail(error, MXD_ERROR, "sqlite: generation: null argument");
		*generation = h->generation();
		return MXD_OK;
	});
}

void plugin_close(void *handle)
{
	try {
		delete static_cast<Handle *>(handle);
	} catch (...) {
		// A destructor that throws has nowhere to report to.
	}
}

void plugin_free_string(char *s)
{
	std::free(s);
}

int plugin_list(void *handle, int (*each)(void *, const char *, const char *), void *ctx,
                char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("list", h, error, [&]() -> int {
		if (!h || !each)
			return fail(error, MXD_ERROR, "sqlite: list: null argument");
		h->list(each, ctx);
		return MXD_OK;
	});
}

int plugin_put(void *handle, const char *domain, const char *record_json, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("put", h, error, [&]() -> int {
		if (!h || !domain || !record_json)
			return fail(error, MXD_ERROR, "sqlite: put: null argument");
		Writer &w = writer_of(handle, "put");
		const std::string key = domain;
		w.put(key, plugin::record_to_store(key, record_json));
		return MXD_OK;
	});
}

int plugin_remove(void *handle, const char *domain, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("remove", h, error, [&]() -> int {
		if (!h || !domain)
			return fail(error, MXD_ERROR, "sqlite: remove: null argument");
		return writer_of(handle, "remove").remove(domain) ? MXD_OK : MXD_NOT_FOUND;
	});
}

int plugin_begin(void *handle, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("begin", h, error, [&]() -> int {
		if (!h)
			return fail(error, MXD_ERROR, "sqlite: begin: null argument");
		// IMMEDIATE: the write lock now, so that what the caller reads
		// inside the transaction is what the commit builds on.
		writer_of(handle, "begin").db().exec("BEGIN IMMEDIATE");
		return MXD_OK;
	});
}

int plugin_commit(void *handle, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("commit", h, error, [&]() -> int {
		if (!h)
			return fail(error, MXD_ERROR, "sqlite: commit: null argument");
		writer_of(handle, "commit").db().exec("COMMIT");
		return MXD_OK;
	});
}

int plugin_rollback(void *handle, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("rollback", h, error, [&]() -> int {
		if (!h)
			return fail(error, MXD_ERROR, "sqlite: rollback: null argument");
		SQLite::Database &db = writer_of(handle, "rollback").db();
		// A failed COMMIT may have rolled back already; that is no error.
		if (!sqlite3_get_autocommit(db.getHandle()))
			db.exec("ROLLBACK");
		return MXD_OK;
	});
}

} // namespace
} // namespace mxd

extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "sqlite",
	mxd::plugin_open, mxd::plugin_lookup, mxd::plugin_generation, mxd::plugin_close,
	mxd::plugin_free_string,
	mxd::plugin_list, mxd::plugin_put, mxd::plugin_remove,
	mxd::plugin_begin, mxd::plugin_commit, mxd::plugin_rollback,
};
