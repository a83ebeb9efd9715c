#include "follow/copy.hpp"

#include "core/log.hpp"
#include "service/follow_status.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace mxd::follow {
namespace {

// The sqlite plugin's schema (backends/sqlite/schema.sql, embedded by the
// Makefile): the copy is a store the unchanged responder reads.
constexpr const char sqlite_schema[] =
#include "schema.inc"
	;
// The schema's version as schema.sql makes it.  Version 3's table
// "renderings" is kept by the follower as mxdelegatectl keeps a store's
// (copy_renderings).
constexpr int copy_user_version = 3;

std::string why(sqlite3 *db) { return log::one_line(db ? sqlite3_errmsg(db) : "out of memory"); }

void exec(sqlite3 *db, const std::string &sql, const std::string &where, std::string_view what)
{
	char *err = nullptr;
	if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
		std::string message = where + ": " + std::string(what) + ": " +
		                      log::one_line(err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		throw CopyError(message);
	}
}

std::string sql_text(std::string_view text)
{
	std::string out = "'";
	for (const char c : text)
		out += c == '\'' ? std::string("''") : std::string(1, c);
	return out + "'";
}

// The follower's table and the guard that refuses every other writer.  The
// follower sets writer to 'follower' first thing in each transaction and
// back to '' before it commits.
std::string guard_sql(const std::string &primary)
{
	const std::string refusal =
		sql_text("this store is a copy of PostgreSQL " + primary +
		       " kept by \"mxdelegatectl follow\"; write to the primary");
	std::string sql = "DROP TRIGGER IF EXISTS mxdelegate_follow_insert;"
	                  "DROP TRIGGER IF EXISTS mxdelegate_follow_update;"
	                  "DROP TRIGGER IF EXISTS mxdelegate_follow_delete;";
	for (const char *op : {"INSERT", "UPDATE", "DELETE"}) {
		std::string name = op;
		for (char &c : name)
			c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
		sql += std::string("CREATE TRIGGER mxdelegate_follow_") + name + " BEFORE " + op +
		       " ON domains WHEN (SELECT value FROM mxdelegate_follow WHERE name = 'writer') "
		       "IS NOT 'follower' BEGIN SELECT RAISE(ABORT, " + refusal + "); END;";
	}
	return sql;
}

const std::string insert_sql = "INSERT OR REPLACE INTO domains (domain, " + plugin::column_list() +
                               ", created, updated) VALUES (?" +
                               [] {
	                               std::string q;
	                               for (std::size_t i = 0; i < plugin::record_columns.size() + 2; i++)
		                               q += ", ?";
	                               return q;
                               }() + ")";

void bind(sqlite3_stmt *s, const Row &row)
{
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, row.domain.data(), static_cast<int>(row.domain.size()), SQLITE_STATIC);
	int at = 2;
	for (std::size_t i = 0; i < row.cells.size(); i++, at++) {
		const auto &cell = row.cells[i];
		if (!cell) {
			sqlite3_bind_null(s, at);
			continue;
		}
		if (plugin::record_columns[i].type == plugin::Column::integer) {
			std::int64_t v = 0;
			const auto [end, ec] = std::from_chars(cell->data(), cell->data() + cell->size(), v);
			if (ec == std::errc() && end == cell->data() + cell->size()) {
				sqlite3_bind_int64(s, at, v);
				continue;
			}
		}
		sqlite3_bind_text(s, at, cell->data(), static_cast<int>(cell->size()), SQLITE_STATIC);
	}
	sqlite3_bind_text(s, at, row.created.data(), static_cast<int>(row.created.size()), SQLITE_STATIC);
	sqlite3_bind_text(s, at + 1, row.updated.data(), static_cast<int>(row.updated.size()),
	                  SQLITE_STATIC);
}

void step(sqlite3 *db, sqlite3_stmt *s, const std::string &where, const std::string &domain)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		throw CopyError(where + ": " + log::one_line(domain) + ": " + why(db));
}

struct Db {
	sqlite3 *db = nullptr;
	~Db() { sqlite3_close_v2(db); }
};

void fsync_path(const std::string &path, int flags)
{
	const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
	if (fd < 0)
		throw CopyError(path + ": cannot open to sync: " + std::strerror(errno));
	const int rc = ::fsync(fd);
	const int saved = errno;
	::close(fd);
	if (rc != 0)
		throw CopyError(path + ": fsync: " + std::strerror(saved));
}

std::string folder_of(const std::string &path)
{
	const auto parent = std::filesystem::path(path).parent_path();
	return parent.empty() ? "." : parent.string();
}

} // namespace

Build::Build(const std::string &path, std::string primary, const RenderWith &with)
    : path_(path), fresh_(path + ".new"), primary_(std::move(primary))
{
	// A PATH.new left by a follower killed mid-copy is only a half copy.
	if (::unlink(fresh_.c_str()) != 0 && errno != ENOENT)
		throw CopyError(fresh_ + ": cannot remove the unfinished copy: " + std::strerror(errno));
	// Mode 0644 whatever the umask, as the sqlite plugin makes a store:
	// the responder, another user, must read it.
	const int fd = ::open(fresh_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		throw CopyError("cannot create " + fresh_ + ": " + std::strerror(errno));
	const int rc = ::fchmod(fd, 0644);
	::close(fd);
	if (rc != 0)
		throw CopyError(fresh_ + ": cannot set mode 0644: " + std::strerror(errno));
	if (sqlite3_open_v2(fresh_.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
		throw CopyError(fresh_ + ": " + why(db_));
	// Nothing to roll back to while building: a failed build is thrown away.
	// A page cache of 64 MiB while building: the renderings go in by their
	// hashed rowids, at random places of a table of about 700 bytes a row,
	// and with SQLite's 2 MiB each insert moved pages through the kernel
	// (a million taken from the primary: 13 s of system time of 23 s; 7 s
	// of 15 s with this).  The responders never see this connection.
	exec(db_, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536",
	     fresh_, "setting up");
	exec(db_, sqlite_schema, fresh_, "creating the schema");
	exec(db_,
	     "CREATE TABLE mxdelegate_follow (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) "
	     "WITHOUT ROWID; BEGIN",
	     fresh_, "creating the schema");
	if (sqlite3_prepare_v3(db_, insert_sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert_,
	                       nullptr) != SQLITE_OK)
		throw CopyError(fresh_ + ": preparing the insert: " + why(db_));
	renderer_ = std::make_unique<Renderer>(db_, fresh_, with);
}

Build::~Build()
{
	renderer_.reset();
	sqlite3_finalize(insert_);
	if (db_) {
		sqlite3_close_v2(db_);
		::unlink(fresh_.c_str());
	}
}

void Build::add(const Row &row)
{
	bind(insert_, row);
	step(db_, insert_, fresh_, row.domain);
	const Renderer::Kept k = renderer_->keep(row.domain, row.offered ? &*row.offered : nullptr);
	rendered_ += k == Renderer::kept;
	taken_ += k == Renderer::taken;
	rows_++;
}

void Build::install(const Head &head)
{
	const std::string now = follow_status::format_time(std::time(nullptr));
	exec(db_,
	     "INSERT INTO mxdelegate_follow (name, value) VALUES ('primary', " + sql_text(primary_) +
	         "), ('store_id', " + sql_text(head.store_id) + "), ('seq', '" +
	         std::to_string(head.max_seq) + "'), ('copied_at', '" + now + "'), ('applied_at', '" +
	         now + "'), ('writer', '');" + guard_sql(primary_) + "COMMIT",
	     fresh_, "finishing the copy");
	exec(db_, "PRAGMA journal_mode = DELETE", fresh_, "finishing the copy");
	renderer_.reset();
	sqlite3_finalize(insert_);
	insert_ = nullptr;
	if (sqlite3_close(db_) != SQLITE_OK)
		throw CopyError(fresh_ + ": close: " + why(db_));
	db_ = nullptr;
	try {
		fsync_path(fresh_, O_RDONLY);
		// A hot journal beside PATH (a follower killed mid-apply) would be
		// played back into the new file after the rename: rolled back into
		// the old one first, by opening it for writing and reading.
		if (std::filesystem::exists(path_ + "-journal"))
			(void)Copy(path_, {}).meta();
		if (::rename(fresh_.c_str(), path_.c_str()) != 0)
			throw CopyError("cannot rename " + fresh_ + " to " + path_ + ": " + std::strerror(errno));
		fsync_path(folder_of(path_), O_RDONLY | O_DIRECTORY);
	} catch (...) {
		::unlink(fresh_.c_str());
		throw;
	}
}

std::optional<CopyMeta> Copy::meta() const
{
	struct stat st{};
	if (::stat(path_.c_str(), &st) != 0 || st.st_size == 0)
		return std::nullopt;
	Db d;
	if (sqlite3_open_v2(path_.c_str(), &d.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
		throw CopyError(path_ + ": " + why(d.db));
	sqlite3_busy_timeout(d.db, 10000);
	sqlite3_stmt *s = nullptr;
	// Reading rolls back a hot journal, as any first read does.
	if (sqlite3_prepare_v2(d.db, "PRAGMA user_version", -1, &s, nullptr) != SQLITE_OK)
		throw CopyError(path_ + ": " + why(d.db));
	int version = 0;
	const int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		throw CopyError(path_ + ": " + why(d.db));
	if (version > copy_user_version)
		throw CopySchema("sqlite: " + path_ + ": schema version " + std::to_string(version) +
		                 " is newer than this mxdelegate knows (" + std::to_string(copy_user_version) +
		                 "); upgrade mxdelegate");
	// A copy of an older schema lacks columns that the changes would write:
	// it is copied whole again, as if there were none.
	if (version < copy_user_version)
		return std::nullopt;
	if (sqlite3_prepare_v2(d.db, "SELECT name, value FROM mxdelegate_follow", -1, &s, nullptr) !=
	    SQLITE_OK)
		return std::nullopt; // not a copy of the follower's
	CopyMeta m;
	bool any = false;
	while (sqlite3_step(s) == SQLITE_ROW) {
		const std::string_view name(reinterpret_cast<const char *>(sqlite3_column_text(s, 0)));
		const char *value = reinterpret_cast<const char *>(sqlite3_column_text(s, 1));
		if (name == "primary")
			m.primary = value;
		else if (name == "store_id")
			m.store_id = value;
		else if (name == "seq") {
			any = true;
			m.seq = std::strtoll(value, nullptr, 10);
		}
	}
	sqlite3_finalize(s);
	if (!any)
		return std::nullopt;
	return m;
}

Copy::Applied Copy::apply(const Changes &changes, const std::string &primary) const
{
	Applied out;
	Db d;
	if (sqlite3_open_v2(path_.c_str(), &d.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
		throw CopyError(path_ + ": " + why(d.db));
	// The responder's readers hold their lock for one lookup.
	sqlite3_busy_timeout(d.db, 10000);
	exec(d.db, "BEGIN IMMEDIATE; UPDATE mxdelegate_follow SET value = 'follower' WHERE name = 'writer'",
	     path_, "begin");
	try {
		sqlite3_stmt *insert = nullptr, *remove = nullptr;
		if (sqlite3_prepare_v2(d.db, insert_sql.c_str(), -1, &insert, nullptr) != SQLITE_OK ||
		    sqlite3_prepare_v2(d.db, "DELETE FROM domains WHERE domain = ?", -1, &remove, nullptr) !=
		        SQLITE_OK) {
			sqlite3_finalize(insert);
			throw CopyError(path_ + ": preparing the changes: " + why(d.db));
		}
		try {
			Renderer renderer(d.db, path_, with_);
			for (const auto &[domain, row] : changes.rows) {
				if (row) {
					bind(insert, *row);
					step(d.db, insert, path_, domain);
					const Renderer::Kept k = renderer.keep(domain, row->offered ? &*row->offered : nullptr);
					out.rendered += k == Renderer::kept;
					out.taken += k == Renderer::taken;
				} else {
					sqlite3_reset(remove);
					sqlite3_bind_text(remove, 1, domain.data(), static_cast<int>(domain.size()),
					                  SQLITE_STATIC);
					step(d.db, remove, path_, domain);
					renderer.forget(domain);
				}
			}
		} catch (...) {
			sqlite3_finalize(insert);
			sqlite3_finalize(remove);
			throw;
		}
		sqlite3_finalize(insert);
		sqlite3_finalize(remove);
		const std::string now = follow_status::format_time(std::time(nullptr));
		std::string sql = "UPDATE mxdelegate_follow SET value = '" +
		                  std::to_string(changes.head.max_seq) + "' WHERE name = 'seq';"
		                  "UPDATE mxdelegate_follow SET value = '" + now + "' WHERE name = 'applied_at';";
		if (!primary.empty())
			sql += "UPDATE mxdelegate_follow SET value = " + sql_text(primary) +
			       " WHERE name = 'primary';" + guard_sql(primary);
		exec(d.db, sql + "UPDATE mxdelegate_follow SET value = '' WHERE name = 'writer'; COMMIT", path_,
		     "applying the changes");
	} catch (...) {
		sqlite3_exec(d.db, "ROLLBACK", nullptr, nullptr, nullptr);
		throw;
	}
	return out;
}

} // namespace mxd::follow
