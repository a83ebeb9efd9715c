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

#include "plugin/entry_points.hpp"
#include "plugin/outage.hpp"
#include "plugin/plugin_config.hpp"
#include "plugin/reader_pool.hpp"
#include "plugin/schema_version.hpp"
#include "plugin/sql_columns.hpp"
#include "plugin/sqlite_cells.hpp"
#include "sqlite_statement.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace mxd {
namespace {

using json = nlohmann::json;
using plugin::Access;
using plugin::StatusError;

// The schema this plugin reads and writes (PRAGMA user_version), and the
// text that creates it (backends/sqlite/schema.sql, embedded by the Makefile).
// Version 2 added the redirect columns, version 3 the renderings kept
// beside each record: a version 1 or 2 store is still read (its rows have
// no redirect, or no rendering: lookup_rendered is lookup), so that a new
// responder serves an old store until "mxdelegatectl init" migrates it;
// writing needs version 3.
constexpr plugin::SchemaVersion schema{3};
constexpr int oldest_readable = 1;
// The parts of schema.sql that migrate version N-1 to N: what follows each
// line.
constexpr std::string_view migration_1_to_2_mark = "\n-- version 2:";
constexpr std::string_view migration_2_to_3_mark = "\n-- version 3:";
constexpr int first_rendering_version = 3;
constexpr const char schema_sql[] =
#include "schema.inc"
	;
static_assert(std::string_view(schema_sql).find(migration_1_to_2_mark) != std::string_view::npos,
              "schema.sql lost its \"-- version 2:\" line");
static_assert(std::string_view(schema_sql).find(migration_2_to_3_mark) != std::string_view::npos,
              "schema.sql lost its \"-- version 3:\" line");

// How long the admin tool waits for another writer's lock, and a lookup too
// unless [backend] timeout is shorter.
constexpr int default_busy_timeout_ms = 2000;
// How many virtual machine instructions a lookup runs between two looks at
// the clock: a lookup by key runs a few dozen, so a healthy store never
// pays for the deadline; a view's endless query is stopped within
// microseconds of it.
constexpr int progress_period = 1000;
// After a failure to open the database, lookups answer at once with that
// failure for this long, then one of them tries again: a local file is
// cheap to try, so the wait does not grow.
constexpr plugin::Backoff retry_backoff{std::chrono::milliseconds(250), std::chrono::milliseconds(250)};
// How long a reader keeps one read transaction over the lookups that come
// to it.  Each transaction costs a dozen system calls in rollback-journal
// mode (the shared lock taken and let go, the hot-journal and WAL checks,
// the header's change counter read: bench/RESULTS.md, "What a miss costs
// the kernel"), more than the lookup's own B-tree reads; kept over a run of
// lookups, that cost is paid once per run.  The price is a writer's: a
// commit waits until every reader has let go, which a busy reader does at
// its first lookup past this age and an idle one when the sweeper passes,
// every hold_for; so a commit waits about this long at most.  A
// transaction never sees stale data: a commit cannot happen while it
// lasts.
constexpr std::chrono::milliseconds hold_for{10};
// Only lookups that come in a run share a transaction: one that follows
// the reader's last within this.  Slower traffic gains nothing worth a
// lock kept after each lookup, which a writer without a busy timeout (the
// sqlite3 shell's default) would run into.
constexpr std::chrono::microseconds run_gap{1000};

struct Settings {
	std::string path;
	Access access = Access::read;
	int busy_timeout_ms = default_busy_timeout_ms;
	// [backend] timeout: the responder's lookups only.
	std::chrono::milliseconds timeout = plugin::default_timeout;
};

// strerror() may share a buffer between threads; this does not.
std::string reason(int error)
{
	return std::generic_category().message(error);
}

Settings configure(const char *config_json)
{
	static const plugin::ConfigRules rules{
		"sqlite: ",
		{{"path"},
		 {"busy_timeout", plugin::Key::integer, 0, 60000,
		  "must be an integer number of milliseconds from 0 to 60000"},
		 plugin::timeout_key},
		/*writable=*/true};
	const plugin::PluginConfig config(config_json, rules);
	const std::string *path = config.text("path");
	if (!path || path->empty())
		throw StatusError(MXD_ERROR, "sqlite: [backend] path: missing; the database file, such as "
		                             "\"/var/lib/mxdelegate/domains.db\"");
	Settings s{config.resolve(*path), config.access(),
	           static_cast<int>(config.integer("busy_timeout").value_or(default_busy_timeout_ms)),
	           config.timeout()};
	// The wait for a writer's lock is part of a lookup's time: the
	// responder's never outlasts the deadline (and its messages say the
	// wait it did).  The admin tool waits as long as it was told.
	if (s.access == Access::read)
		s.busy_timeout_ms = std::min<int>(s.busy_timeout_ms, static_cast<int>(s.timeout.count()));
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
	case SQLITE_INTERRUPT:
		return where + "ran past [backend] timeout (" + std::to_string(s.timeout.count()) +
		       " ms) and was interrupted";
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

// Debian's SQLite is built without lookaside memory (SQLITE_OMIT_LOOKASIDE),
// so each of a lookup's small allocations is a malloc, and with the memory
// statistics on (SQLite's default) each allocation and each free takes and
// releases a global mutex: sixteen a miss, about 1,900 instructions
// (bench/RESULTS.md).  Nothing here reads the statistics.  sqlite3_config
// works only before SQLite initialises, so this runs before the plugin's
// first connection; where something else in the process used SQLite first,
// it is refused (SQLITE_MISUSE) and changes nothing.
void no_memory_statistics()
{
	[[maybe_unused]] static const int once = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int user_version(SQLite::Database &db)
{
	return db.execAndGet("PRAGMA user_version").getInt();
}

// The responder's refusal of a database it cannot read correctly.
void require_version(const Settings &s, int found, bool reading = false)
{
	if (reading && found >= oldest_readable && found < schema.expected)
		return;
	schema.require("sqlite: " + s.path + ": ", found,
	               StatusError(MXD_ERROR, "sqlite: " + s.path + ": not an mxdelegate database yet "
	                           "(schema version 0, expected " + std::to_string(schema.expected) +
	                           "); run \"mxdelegatectl init\" to create the schema"),
	               ", or restore a database of schema version " + std::to_string(schema.expected));
}

// `domains` must be the table the schema makes: a view (or a table renamed
// and a view put in its place, behind the admin tool's back) may run any
// query, without end, in every worker that asks for a domain.
void require_table(const Settings &s, SQLite::Database &db)
{
	SQLite::Statement q(db, "SELECT type FROM sqlite_master WHERE name = 'domains' COLLATE NOCASE");
	const std::string where = "sqlite: " + s.path + ": ";
	if (!q.executeStep())
		throw StatusError(MXD_ERROR, where + "no table \"domains\", though the schema version is " +
		                                 std::to_string(schema.expected));
	if (const std::string type = q.getColumn(0).getString(); type != "table")
		throw StatusError(MXD_ERROR, where + "\"domains\" is a " + log::one_line(type) +
		                                 ", not the table the schema makes; refusing to read it "
		                                 "(restore the table, or run \"mxdelegatectl import\" "
		                                 "into a new database)");
}

// The generation of columns a schema version has (plugin::latest_columns).
unsigned columns_of(int version)
{
	return version >= 2 ? 1 : 0;
}

// The record's columns, then its rendering's from the table "renderings"
// (NULL when it has none, and before version 3): lookup() reads the first,
// lookup_rendered() all of them from the same step of the same statement.
// The bytes come last, since SQLite reads a row's cells only as far as the
// last one asked for.
constexpr int rendered_for_cell = static_cast<int>(plugin::record_columns.size());
constexpr int rendered_of_cell = rendered_for_cell + 1;
constexpr int rendered_cell = rendered_for_cell + 2;

std::string lookup_sql(int version)
{
	return "SELECT " + plugin::column_list({}, columns_of(version)) +
	       " FROM domains WHERE domain = ?1";
}

// The rendering is found by its rowid, the domain's id (?2), and must be
// the domain's own (two names of one id: the later write wins, the other
// goes without).
std::string lookup_rendered_sql(int version)
{
	if (version < first_rendering_version)
		return "SELECT " + plugin::column_list({}, columns_of(version)) +
		       ", NULL, NULL, NULL FROM domains WHERE domain = ?1";
	return "SELECT " + plugin::column_list("d.", columns_of(version)) +
	       ", r.rendered_for, r.rendered_of, r.rendered FROM domains AS d "
	       "LEFT JOIN renderings AS r ON r.id = ?2 AND r.domain = d.domain WHERE d.domain = ?1";
}

std::string list_sql(int version)
{
	return "SELECT domain, " + plugin::column_list({}, columns_of(version)) +
	       " FROM domains ORDER BY domain";
}

// The record of the row `stmt` is on, its columns starting at `first`.
std::string record_of(const Settings &s, sqlite3_stmt *stmt, int first, std::string_view domain)
{
	return plugin::record_of(plugin::row_of(stmt, first), "sqlite", s.path, domain);
}

// One read-only connection and its prepared lookup, used by one thread at a
// time (SQLITE_OPEN_NOMUTEX: the pool does the locking).
struct Reader {
	using Clock = std::chrono::steady_clock;

	// Past this, the statement running on db is interrupted, and a wait for
	// a writer's lock given up.  Set by the one thread that holds the
	// reader, and read by SQLite's callbacks on that same thread; declared
	// before db, which is opened under it.
	Clock::time_point deadline;
	const std::chrono::milliseconds busy_timeout;
	Clock::time_point busy_since;
	// The schema version the connection found at open (PRAGMA
	// user_version), which its statements are made for; a migration
	// retires the reader.
	int version = 0;
	SQLite::Database db;
	// lookup_rendered(), the responder's every lookup, prepared at open,
	// so that a `domains` the statement cannot read fails there; it binds
	// the domain's id too from version 3 on.  Declared after db: a
	// statement is finalized before its connection closes.
	sqlite::Statement rendered;
	const bool renders;

	// `self`: the reader the connection is for, whose deadline bounds
	// everything from here on; none for the watcher's connection.
	// `version`: the schema version found, which the caller's statements
	// are made for (read once: each read is a statement prepared).
	static SQLite::Database open(const Settings &s, Reader *self, int &version)
	{
		no_memory_statistics();
		SQLite::Database db(s.path, SQLite::OPEN_READONLY | SQLITE_OPEN_NOMUTEX, s.busy_timeout_ms);
		if (self) {
			sqlite3_busy_handler(db.getHandle(), &Reader::wait, self);
			sqlite3_progress_handler(db.getHandle(), progress_period, &Reader::past_deadline, self);
		}
		// Belt and braces: even a read-write file is never written here.
		db.exec("PRAGMA query_only = 1");
		// One page cache per reader thread: SQLite's default (2 MB) each
		// was a third of the responder's memory.  512 KiB holds the upper
		// levels of a 1,000,000-domain B-tree; the rest comes from the
		// kernel's page cache, which all readers share.
		db.exec("PRAGMA cache_size = -512");
		// Reading the version also reads the header: garbage fails here.
		version = user_version(db);
		require_version(s, version, /*reading=*/true);
		require_table(s, db);
		return db;
	}

	Reader(const Settings &s, Clock::time_point until)
	    : deadline(until), busy_timeout(s.busy_timeout_ms), db(open(s, this, version)),
	      rendered(db.getHandle(), lookup_rendered_sql(version)),
	      renders(version >= first_rendering_version)
	{
	}
	Reader(const Reader &) = delete;
	Reader &operator=(const Reader &) = delete;

	// lookup(), the record alone (wildcard keys, the health check, the
	// store probed at start, a core that does not render): a CGI request
	// answered from a rendering never asks it, so it is prepared at its
	// first use.  Its columns are lookup_rendered()'s, which open prepared:
	// a `domains` it cannot read has failed there already.
	sqlite::Statement &lookup()
	{
		if (!lookup_.prepared())
			lookup_ = sqlite::Statement(db.getHandle(), lookup_sql(version));
		return lookup_;
	}

	// After a busy step: the statements are as new, out of any transaction,
	// the connection kept.
	void reset() noexcept
	{
		lookup_.reset();
		rendered.reset();
		let_go();
	}

	// Into a read transaction that the lookups of the next hold_for share
	// (its shared lock is taken by the first step), or on in the one held.
	void hold(Clock::time_point now)
	{
		if (held_since && now - *held_since < hold_for)
			return;
		let_go();
		if (!commit_.prepared())
			commit_ = sqlite::Statement(db.getHandle(), "COMMIT");
		if (!begin_.prepared())
			begin_ = sqlite::Statement(db.getHandle(), "BEGIN");
		begin_.step();
		begin_.reset();
		held_since = now;
	}

	// Out of the transaction held, if any: its shared lock goes, and a
	// writer's commit may go ahead.
	void let_go() noexcept
	{
		if (!held_since)
			return;
		held_since.reset();
		sqlite3 *h = db.getHandle();
		// A read transaction's COMMIT lets go of the lock and cannot fail
		// while no statement runs; should it, ROLLBACK does the same, and
		// a connection still in a transaction is no longer alive().
		if (sqlite3_step(commit_.get()) != SQLITE_DONE)
			sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
		commit_.reset();
	}

	// Whether a lookup starting at `now` continues a run: the reader's
	// last ended within run_gap.
	bool in_run(Clock::time_point now) const { return now - last_used_ < run_gap; }

	// After a lookup: out of a transaction that has lasted hold_for.
	// True while one is still held.
	bool holding(Clock::time_point now) noexcept
	{
		last_used_ = now;
		if (held_since && now - *held_since >= hold_for)
			let_go();
		return held_since.has_value();
	}

	// The pool lends no connection left inside a transaction it does not
	// know of.
	bool alive() const { return held_since || sqlite3_get_autocommit(db.getHandle()); }

	// Non-zero ends the running statement with SQLITE_INTERRUPT.
	static int past_deadline(void *self)
	{
		return Clock::now() >= static_cast<const Reader *>(self)->deadline;
	}

	// sqlite3_busy_timeout's waits, but ending at the deadline as well, so
	// that opening a connection and then reading through it cannot wait
	// for a writer twice over.  Zero gives up (SQLITE_BUSY).
	static int wait(void *self, int count)
	{
		auto &r = *static_cast<Reader *>(self);
		const auto now = Clock::now();
		if (count == 0)
			r.busy_since = now;
		const auto until = std::min(r.deadline, r.busy_since + r.busy_timeout);
		if (now >= until)
			return 0;
		// SQLite's own steps: short at first, since most locks are a commit.
		static constexpr int steps_ms[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
		const std::chrono::milliseconds step(steps_ms[std::min<std::size_t>(
			static_cast<std::size_t>(count), std::size(steps_ms) - 1)]);
		std::this_thread::sleep_for(std::min<Clock::duration>(step, until - now));
		return 1;
	}

private:
	sqlite::Statement lookup_;
	// hold()'s and let_go()'s, prepared at the first hold (a CGI request's
	// one lookup never holds), so that neither parses at each use.
	sqlite::Statement begin_, commit_;
	std::optional<Clock::time_point> held_since;
	// When the reader's last lookup ended (holding()).
	Clock::time_point last_used_;
};

using Pool = plugin::ReaderPool<Reader>;

// Lets go of the transactions that idle readers hold, every hold_for, so
// that a commit never waits long on a reader no lookup is using.  A thread
// of its own, started by the first transaction held (the CGI's one lookup
// holds none, nor does the admin tool), asleep while no reader holds one.
class Sweeper {
public:
	explicit Sweeper(Pool &pool) : pool_(pool) {}
	Sweeper(const Sweeper &) = delete;
	Sweeper &operator=(const Sweeper &) = delete;
	~Sweeper()
	{
		{
			std::lock_guard lock(mutex_);
			stopping_ = true;
		}
		woken_.notify_one();
		if (thread_.joinable())
			thread_.join();
	}

	// Whether a reader may hold a transaction: the thread runs, started
	// now if need be.  A system out of threads gets lookups each in a
	// transaction of its own, as before.
	bool ready()
	{
		if (started_.load(std::memory_order_acquire))
			return true;
		std::lock_guard lock(mutex_);
		if (!started_.load(std::memory_order_relaxed) && !stopping_) {
			try {
				thread_ = std::thread(&Sweeper::run, this);
				started_.store(true, std::memory_order_release);
			} catch (const std::system_error &) {
				return false;
			}
		}
		return started_.load(std::memory_order_relaxed);
	}

	// A reader went back to the pool holding a transaction (called after
	// the release, so that a sweep that has just begun either sees the
	// reader or is followed by another).
	void arm()
	{
		if (armed_.load())
			return;
		{
			std::lock_guard lock(mutex_);
			armed_.store(true);
		}
		woken_.notify_one();
	}

private:
	void run()
	{
		std::unique_lock lock(mutex_);
		while (!stopping_) {
			if (!armed_.load()) {
				woken_.wait(lock);
				continue;
			}
			if (woken_.wait_for(lock, hold_for, [this] { return stopping_; }))
				break;
			armed_.store(false);
			lock.unlock();
			pool_.each_idle([](Reader &r) { r.let_go(); });
			lock.lock();
		}
	}

	Pool &pool_;
	std::mutex mutex_;
	std::condition_variable woken_;
	bool stopping_ = false;            // guarded by mutex_
	std::atomic<bool> armed_{false};   // set under mutex_, read without
	std::atomic<bool> started_{false};
	std::thread thread_;
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
		throw StatusError(MXD_ERROR, "sqlite: cannot create " + s.path + ": " + reason(errno));
	}
	const int rc = ::fchmod(fd, 0644);
	const int saved = errno;
	::close(fd);
	if (rc != 0)
		throw StatusError(MXD_ERROR, "sqlite: " + s.path + ": cannot set mode 0644: " + reason(saved));
}

// The admin tool's connection: one thread, statements prepared once.
class Writer {
public:
	// The statements are prepared at their first use: a command uses a few
	// of them, and open has checked the schema they read (version, the
	// table `domains`).
	explicit Writer(const Settings &s) : db_(open(s)) {}

	// ", ?2, ..., ?N, ?N+1, ?N+1": the columns, then created and updated
	// from one time.
	static std::string placeholders()
	{
		std::string out;
		const std::size_t stamp = plugin::record_columns.size() + 2;
		for (std::size_t i = 2; i < stamp; i++)
			out += ", ?" + std::to_string(i);
		return out + ", ?" + std::to_string(stamp) + ", ?" + std::to_string(stamp);
	}

	SQLite::Database &db() { return db_; }
	sqlite::Statement &lookup()
	{
		if (!lookup_.prepared())
			lookup_ = sqlite::Statement(db_.getHandle(), lookup_sql(schema.expected));
		return lookup_;
	}
	sqlite::Statement &rendered()
	{
		if (!rendered_.prepared())
			rendered_ = sqlite::Statement(db_.getHandle(), lookup_rendered_sql(schema.expected));
		return rendered_;
	}

	void put(const std::string &domain, const json &record)
	{
		SQLite::Statement &upsert = prepared(upsert_, [] {
			return "INSERT INTO domains (domain, " + plugin::column_list() + ", created, updated) "
			       "VALUES (?1" + placeholders() + ") "
			       "ON CONFLICT (domain) DO UPDATE SET " + plugin::column_updates() +
			       // An unchanged record keeps its time of last change.
			       ", updated = excluded.updated "
			       "WHERE (" + plugin::column_list() + ") IS NOT (" +
			       plugin::column_list("excluded.") + ")";
		});
		upsert.reset();
		upsert.clearBindings();
		upsert.bind(1, domain);
		for (int i = 2; const plugin::Column &col : plugin::record_columns) {
			if (auto it = record.find(col.name); it != record.end()) {
				if (col.type == plugin::Column::integer)
					upsert.bind(i, it->get<std::int64_t>());
				else if (col.type == plugin::Column::text)
					upsert.bind(i, it->get_ref<const std::string &>());
				else
					upsert.bind(i, it->dump());
			}
			i++;
		}
		// One time for a whole import; std::time() is cheap, strftime less.
		if (const std::time_t now = std::time(nullptr); now != stamped_) {
			stamped_ = now;
			stamp_ = timestamp();
		}
		upsert.bind(static_cast<int>(plugin::record_columns.size()) + 2, stamp_);
		upsert.exec();
		upsert.reset();
		// Any put forgets the rendering (backend.h: the writer keeps a
		// fresh one after it).
		forget(domain.c_str());
	}

	void forget(const char *domain)
	{
		SQLite::Statement &stmt =
			prepared(forget_, "DELETE FROM renderings WHERE id = ?2 AND domain = ?1");
		stmt.reset();
		stmt.bind(1, domain);
		stmt.bind(2, plugin::domain_id(domain));
		stmt.exec();
		stmt.reset();
	}

	// Keeps `rendered` under `fingerprint` with the digest of the row as it
	// is now (read through the same statement as a lookup, so the digest is
	// of the cells lookup_rendered() will read); nullopt forgets it.
	bool store_rendered(const char *domain, const char *fingerprint,
	                    std::optional<std::string_view> rendered)
	{
		sqlite::Statement &read = lookup();
		read.reset();
		read.bind_static(1, domain);
		std::string digest;
		try {
			if (!read.step()) {
				read.reset();
				return false;
			}
			digest = plugin::row_digest(domain, plugin::row_of(read.get(), 0));
		} catch (...) {
			read.reset();
			throw;
		}
		read.reset();
		if (!rendered) {
			forget(domain);
			return true;
		}
		SQLite::Statement &keep =
			prepared(keep_, "INSERT OR REPLACE INTO renderings (id, domain, rendered_for, "
			                "rendered_of, rendered) VALUES (?5, ?1, ?2, ?3, ?4)");
		keep.reset();
		keep.bind(1, domain);
		keep.bind(2, fingerprint);
		keep.bindNoCopy(3, digest.data(), static_cast<int>(digest.size()));
		keep.bindNoCopy(4, rendered->data(), static_cast<int>(rendered->size()));
		keep.bind(5, plugin::domain_id(domain));
		keep.exec();
		keep.reset();
		return true;
	}

	bool remove(const char *domain)
	{
		SQLite::Statement &stmt = prepared(remove_, "DELETE FROM domains WHERE domain = ?1");
		stmt.reset();
		stmt.bind(1, domain);
		const int n = stmt.exec();
		stmt.reset();
		forget(domain);
		return n > 0;
	}

private:
	static SQLite::Database open(const Settings &s)
	{
		struct stat st;
		if (s.access == Access::create)
			create_file(s);
		else if (::stat(s.path.c_str(), &st) != 0)
			throw StatusError(errno == ENOENT ? MXD_NO_STORE : MXD_ERROR,
			              "sqlite: " + s.path + ": " + reason(errno) +
			                  (errno == ENOENT ? "; \"mxdelegatectl init\" creates it" : ""));
		SQLite::Database db(s.path, SQLite::OPEN_READWRITE, s.busy_timeout_ms);
		if (sqlite3_db_readonly(db.getHandle(), "main") == 1)
			throw StatusError(MXD_ERROR, "sqlite: " + s.path + ": cannot write the database: " +
			                             reason(EACCES));
		refuse_copy(s, db);
		// Rollback journal, never WAL: see the top of this file.
		const std::string mode = db.execAndGet("PRAGMA journal_mode = DELETE").getString();
		if (mode != "delete")
			throw StatusError(MXD_ERROR, "sqlite: " + s.path + ": journal_mode is " + mode +
			                             " and cannot be set to delete");
		// A bulk import keeps its changes in memory until the commit, so that
		// readers are not locked out for the whole import: a spill to the file
		// would take the exclusive lock early.
		db.exec("PRAGMA cache_size = -1048576");
		db.exec("PRAGMA cache_spill = OFF");
		if (s.access == Access::create) {
			migrate(s, db);
		} else {
			require_version(s, user_version(db));
			require_table(s, db);
		}
		return db;
	}

	// A copy that "mxdelegatectl follow" keeps of a PostgreSQL store holds
	// the follower's table, mxdelegate_follow: a write here would be undone
	// by the next full copy, or undo one of the primary's, so the tool is
	// sent to the primary, named as the follower recorded it.  The copy's
	// triggers refuse other writers (sqlite3) in their own words; this says
	// it before a transaction starts.  Reading a copy is as for any store.
	static void refuse_copy(const Settings &s, SQLite::Database &db)
	{
		if (!db.tableExists("mxdelegate_follow"))
			return;
		std::string primary = "(not recorded)";
		SQLite::Statement q(db, "SELECT value FROM mxdelegate_follow WHERE name = 'primary'");
		if (q.executeStep())
			primary = log::one_line(q.getColumn(0).getString());
		throw StatusError(MXD_ERROR, "sqlite: " + s.path + ": a copy of PostgreSQL " + primary +
		                             " kept by \"mxdelegatectl follow\"; write to the primary (a "
		                             "configuration with [follow] naming it)");
	}

	// Creates the schema in an empty database, or (once there are older
	// versions) migrates step by step; one transaction for all of it.
	static void migrate(const Settings &s, SQLite::Database &db)
	{
		SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
		const int found = user_version(db);
		if (found == schema.expected)
			return;
		schema.migratable("sqlite: " + s.path + ": ", found);
		if (found == 0) {
			SQLite::Statement tables(db, "SELECT name FROM sqlite_schema "
			                             "WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1");
			if (tables.executeStep())
				throw StatusError(MXD_ERROR, "sqlite: " + s.path + ": holds other tables (" +
				              log::one_line(tables.getColumn(0).getString()) +
				              ") and no mxdelegate schema; refusing to add one");
			db.exec(schema_sql);
		} else if (found == 1) {
			const std::string_view all(schema_sql);
			db.exec(std::string(all.substr(all.find(migration_1_to_2_mark))));
		} else if (found == 2) {
			const std::string_view all(schema_sql);
			db.exec(std::string(all.substr(all.find(migration_2_to_3_mark))));
		}
		// Migrations from version N to N+1 go here as versions appear.
		schema.created("sqlite: " + s.path + ": ", "user_version", user_version(db));
		tx.commit();
	}

	// The statement in `slot`, prepared at its first use from sql(), a
	// text or what makes it (an import puts a million times).
	template <typename Sql>
	SQLite::Statement &prepared(std::optional<SQLite::Statement> &slot, const Sql &sql)
	{
		if (!slot) {
			if constexpr (std::is_invocable_v<Sql>)
				slot.emplace(db_, sql());
			else
				slot.emplace(db_, sql);
		}
		return *slot;
	}

	SQLite::Database db_;
	// After db_: finalized before it closes.
	sqlite::Statement lookup_, rendered_;
	std::optional<SQLite::Statement> upsert_, remove_, keep_, forget_;
	std::time_t stamped_ = 0;
	std::string stamp_;
};

class Handle {
public:
	static constexpr const char *name = "sqlite";

	static std::unique_ptr<Handle> open(const char *config_json, const mxd_host *host)
	{
		const Settings s = configure(config_json);
		try {
			return std::make_unique<Handle>(s, host);
		} catch (const SQLite::Exception &e) {
			throw StatusError(status_of(e), describe(s, e));
		}
	}

	// SQLite's own exceptions, with what SQLite does not say itself.
	static std::optional<StatusError> translate(const Handle *h, const std::exception &e)
	{
		const auto *se = dynamic_cast<const SQLite::Exception *>(&e);
		if (!h || !se)
			return std::nullopt;
		return StatusError(status_of(*se), describe(h->s_, *se, h->connection()));
	}

	Handle(Settings s, const mxd_host *host)
	    : s_(std::move(s)), pool_(retry_backoff),
	      outage_(plugin::Log(host), "; lookups answer 503 until it is fixed", /*each_reason=*/true)
	{
		if (s_.access != Access::read)
			writer_ = std::make_unique<Writer>(s_);
	}

	int lookup(const char *domain, plugin::Found &out)
	{
		return read(domain, nullptr, [&](sqlite3_stmt *stmt) {
			out.set(record_of(s_, stmt, 0, domain));
		});
	}

	// A lookup's statement stepped to the row of `domain`, under the
	// reader's deadline; `take` reads what it wants from the row.  `id`:
	// the statement that reads the rendering too, bound to this domain's
	// id; null: the record's alone.
	template <typename Take>
	int read(const char *domain, const std::int64_t *id, const Take &take)
	{
		if (writer_)
			return find(id ? writer_->rendered() : writer_->lookup(), domain, id, take);
		// The deadline counts from here: opening a connection is part of
		// the lookup (its busy wait is bounded by the same timeout).
		const auto start = Reader::Clock::now();
		const auto deadline = start + s_.timeout;
		auto reader = acquire(deadline);
		reader->deadline = deadline;
		int rc;
		try {
			// A lookup that continues a run shares the reader's transaction
			// with the lookups of the next hold_for; any other (a CGI
			// request's, a new connection's, one after a pause) runs in a
			// transaction of its own.
			if (reader.reused && reader->in_run(start) && sweeper_.ready())
				reader->hold(start);
			else
				reader->let_go();
			rc = id && reader->renders ? find(reader->rendered, domain, id, take)
			     : id ? find(reader->rendered, domain, nullptr, take)
			          : find(reader->lookup(), domain, nullptr, take);
		} catch (const SQLite::Exception &e) {
			if (e.getErrorCode() != SQLITE_INTERRUPT) {
				failed(e, std::move(reader));
				throw;
			}
			// A store this slow is failing: the connection goes (its
			// statement may be half-way through anything), and lookups
			// that find no other fail at once while the back-off runs.
			std::string why = "sqlite: " + s_.path + ": the lookup of " + log::one_line(domain) +
			                  " ran past [backend] timeout (" + std::to_string(s_.timeout.count()) +
			                  " ms) and was interrupted";
			reader.conn.reset();
			pool_.failed(MXD_ERROR, why);
			throw StatusError(MXD_ERROR, std::move(why));
		}
		reader->deadline = Reader::Clock::time_point::max();
		const bool holding = reader->holding(Reader::Clock::now());
		pool_.release(std::move(reader));
		if (holding)
			sweeper_.arm();
		return rc;
	}

	// One step of the lookup statement reads the record's columns and the
	// rendering's: the bytes go out only when they were made under this
	// fingerprint for the row exactly as it is now (the digest of the cells
	// just read), else the record, as lookup() would.
	int lookup_rendered(const char *domain, const char *fingerprint, plugin::Found &out)
	{
		const auto pick = [&](sqlite3_stmt *stmt) {
			const auto made_for = plugin::bytes_of(stmt, rendered_for_cell);
			const auto made_of = plugin::bytes_of(stmt, rendered_of_cell);
			if (made_for && made_of && *made_for == fingerprint) {
				const plugin::Row row = plugin::row_of(stmt, 0);
				if (plugin::row_digest(domain, row) == *made_of) {
					if (const auto bytes = plugin::bytes_of(stmt, rendered_cell)) {
						out.set_rendered(*bytes);
						return;
					}
				}
			}
			out.set(record_of(s_, stmt, 0, domain));
		};
		const std::int64_t id = plugin::domain_id(domain);
		return read(domain, &id, pick);
	}

	bool store_rendered(const char *domain, const char *fingerprint,
	                    std::optional<std::string_view> rendered)
	{
		return writer_->store_rendered(domain, fingerprint, rendered);
	}

	void list(plugin::Each each, void *ctx)
	{
		if (writer_)
			return list_on(writer_->db(), each, ctx);
		// Listing is the admin's, not a request's: no deadline.
		auto reader = acquire();
		reader->deadline = Reader::Clock::time_point::max();
		try {
			list_on(reader->db, each, ctx);
		} catch (const SQLite::Exception &e) {
			failed(e, std::move(reader));
			throw;
		}
		reader->let_go();
		pool_.release(std::move(reader));
	}

	bool writable() const { return writer_ != nullptr; }
	void put(std::string key, const json &record) { writer_->put(key, record); }
	bool remove(const char *domain) { return writer_->remove(domain); }
	// IMMEDIATE: the write lock now, so that what the caller reads inside
	// the transaction is what the commit builds on.
	void begin() { writer_->db().exec("BEGIN IMMEDIATE"); }
	void commit() { writer_->db().exec("COMMIT"); }
	void rollback()
	{
		// A failed COMMIT may have rolled back already; that is no error.
		if (!sqlite3_get_autocommit(writer_->db().getHandle()))
			writer_->db().exec("ROLLBACK");
	}

	std::uint64_t generation()
	{
		if (writer_) // the admin tool has nothing cached
			return 1;
		std::lock_guard lock(check_);
		struct stat st;
		if (::stat(s_.path.c_str(), &st) != 0) {
			broken("sqlite: " + s_.path + ": " + reason(errno));
			return generation_.load();
		}
		try {
			if (!watch_ || st.st_dev != dev_ || st.st_ino != ino_) {
				// New file (or first look, or after a failure): read it anew.
				watch_.reset();
				int schema_now = 0;
				auto db = std::make_unique<SQLite::Database>(
					Reader::open(watch_settings(), nullptr, schema_now));
				const auto version = db->execAndGet("PRAGMA data_version").getInt64();
				bool replaced = watch_ready_ && (st.st_dev != dev_ || st.st_ino != ino_);
				watch_ = std::move(db);
				dev_ = st.st_dev;
				ino_ = st.st_ino;
				data_version_ = version;
				watch_ready_ = true;
				const int schema_before = std::exchange(schema_seen_, schema_now);
				if (schema_before != 0 && schema_before != schema_seen_)
					replaced = true; // a migration between two failures: as for a commit below
				if (replaced || outage_.why())
					changed(true);
				if (outage_.up("sqlite: " + s_.path + ": readable again; serving from it"))
					pool_.recovered();
				return generation_.load();
			}
			const auto version = watch_->execAndGet("PRAGMA data_version").getInt64();
			if (version != data_version_) {
				// A commit elsewhere; an init (or a hand) may have changed
				// the schema too.
				const int schema_now = user_version(*watch_);
				require_version(s_, schema_now, /*reading=*/true);
				require_table(s_, *watch_);
				data_version_ = version;
				// A migration: the readers' lookups were prepared for the
				// old columns (NULL for the new ones).
				changed(schema_now != schema_seen_);
				schema_seen_ = schema_now;
			}
		} catch (const SQLite::Exception &e) {
			// A writer holding the lock is no news: ask again next time.
			if (status_of(e) != MXD_BUSY) {
				watch_.reset();
				broken(describe(s_, e));
			}
		} catch (const StatusError &e) {
			watch_.reset();
			broken(e.what());
		}
		return generation_.load();
	}

private:
	// The watcher must not hold up the core's signal thread for long.
	Settings watch_settings() const
	{
		Settings w = s_;
		w.busy_timeout_ms = std::min(w.busy_timeout_ms, 100);
		return w;
	}

	// The admin tool's connection, for the reason of a failed write.
	sqlite3 *connection() const { return writer_ ? writer_->db().getHandle() : nullptr; }

	// A failed step leaves the statement for failed() to reset or drop
	// with its connection.
	template <typename Take>
	int find(sqlite::Statement &stmt, const char *domain, const std::int64_t *id, const Take &take)
	{
		stmt.reset();
		stmt.bind_static(1, domain);
		if (id)
			stmt.bind(2, *id);
		if (!stmt.step()) {
			stmt.reset();
			return MXD_NOT_FOUND;
		}
		try {
			take(stmt.get());
		} catch (...) {
			stmt.reset();
			throw;
		}
		stmt.reset();
		return MXD_OK;
	}

	void list_on(SQLite::Database &db, plugin::Each each, void *ctx)
	{
		sqlite::Statement stmt(db.getHandle(), list_sql(user_version(db)));
		while (stmt.step()) {
			sqlite3_stmt *row = stmt.get();
			if (sqlite3_column_type(row, 0) != SQLITE_TEXT)
				throw StatusError(MXD_ERROR, "sqlite: " + s_.path + ": a domain key is not text");
			const auto *text = reinterpret_cast<const char *>(sqlite3_column_text(row, 0));
			const std::string domain(text, static_cast<std::size_t>(sqlite3_column_bytes(row, 0)));
			const std::string record = record_of(s_, row, 1, domain);
			if (each(ctx, domain.c_str(), record.c_str()) != 0)
				break;
		}
	}

	// A connection from the pool, or a new one; throws while the database
	// is known to be broken and the back-off has not passed.
	Pool::Lease acquire(Reader::Clock::time_point deadline = Reader::Clock::time_point::max())
	{
		return pool_.acquire([this, deadline] {
			try {
				return std::make_unique<Reader>(s_, deadline);
			} catch (const SQLite::Exception &e) {
				// A missing file is named as such, so that the admin tool
				// can tell "run init" from a broken store.
				struct stat st;
				const bool missing = e.getErrorCode() == SQLITE_CANTOPEN &&
				                     ::stat(s_.path.c_str(), &st) != 0 && errno == ENOENT;
				throw StatusError(missing ? MXD_NO_STORE : status_of(e), describe(s_, e));
			}
		});
	}

	// A query failed: a busy connection is still good; any other failure
	// means the file changed under it, so it is dropped and the next lookup
	// opens the file anew after the back-off.
	void failed(const SQLite::Exception &e, Pool::Lease r)
	{
		if (status_of(e) == MXD_BUSY) {
			r->reset();
			pool_.release(std::move(r));
			return;
		}
		r.conn.reset();
		pool_.failed(MXD_ERROR, describe(s_, e));
	}

	// The data may have changed: the core drops what it cached.  A new
	// file, or one that comes back, also retires the pooled connections,
	// which may still read the old inode.
	void changed(bool retire)
	{
		if (retire)
			pool_.retire();
		generation_.fetch_add(1);
	}

	void broken(const std::string &why)
	{
		if (outage_.down(why))
			changed(true);
	}

	const Settings s_;
	int schema_seen_ = 0;
	std::unique_ptr<Writer> writer_;
	Pool pool_;
	// After pool_: stopped before the readers go.
	Sweeper sweeper_{pool_};

	// generation(): its own connection, since PRAGMA data_version compares
	// only on one connection.  Guarded by check_.
	std::mutex check_;
	std::unique_ptr<SQLite::Database> watch_;
	bool watch_ready_ = false;
	dev_t dev_ = 0;
	ino_t ino_ = 0;
	std::int64_t data_version_ = 0;
	plugin::Outage outage_;
	std::atomic<std::uint64_t> generation_{1};
};

} // namespace
} // namespace mxd

extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend =
	mxd::plugin::backend_table<mxd::Handle>();
