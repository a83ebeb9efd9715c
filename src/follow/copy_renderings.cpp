#include "follow/copy_renderings.hpp"

#include "core/log.hpp"
#include "core/rendering.hpp"
#include "follow/copy.hpp"
#include "plugin/sql_columns.hpp"
#include "plugin/sqlite_cells.hpp"

#include <vector>

namespace mxd::follow {
namespace {

std::string why(sqlite3 *db) { return log::one_line(db ? sqlite3_errmsg(db) : "out of memory"); }

// The sqlite plugin's lookup_rendered statement (same columns, same join),
// so that the row read here is the row it will read.
const std::string read_sql = "SELECT " + plugin::column_list("d.") +
                             ", r.rendered_for, r.rendered_of FROM domains AS d "
                             "LEFT JOIN renderings AS r ON r.id = ?2 AND r.domain = d.domain "
                             "WHERE d.domain = ?1";
constexpr int rendered_for_cell = static_cast<int>(plugin::record_columns.size());

void prepare(sqlite3 *db, const std::string &path, const std::string &sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(db, sql.c_str(), -1, out, nullptr) != SQLITE_OK)
		throw CopyError(path + ": preparing the renderings' statements: " + why(db));
}

void bind_domain(sqlite3_stmt *s, std::string_view domain)
{
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, domain.data(), static_cast<int>(domain.size()), SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, plugin::domain_id(domain));
}

void done(sqlite3 *db, sqlite3_stmt *s, const std::string &path, std::string_view domain)
{
	const int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		throw CopyError(path + ": " + log::one_line(domain) + ": keeping its rendering: " + why(db));
}

struct Db {
	sqlite3 *db = nullptr;
	~Db() { sqlite3_close_v2(db); }
};

} // namespace

Renderer::Renderer(sqlite3 *db, std::string path, const RenderWith &with)
    : db_(db), path_(std::move(path)), with_(with),
      fingerprint_(rendering::fingerprint(with.defaults, with.policy))
{
	try {
		prepare(db_, path_, read_sql, &read_);
		// As the plugin's store_rendered: the rowid is the domain's id, and
		// a second name of one id takes the first one's place.
		prepare(db_, path_,
		        "INSERT OR REPLACE INTO renderings (id, domain, rendered_for, rendered_of, "
		        "rendered) VALUES (?2, ?1, ?3, ?4, ?5)",
		        &store_);
		prepare(db_, path_, "DELETE FROM renderings WHERE id = ?2 AND domain = ?1", &forget_);
	} catch (...) {
		sqlite3_finalize(read_);
		sqlite3_finalize(store_);
		throw;
	}
}

Renderer::~Renderer()
{
	sqlite3_finalize(read_);
	sqlite3_finalize(store_);
	sqlite3_finalize(forget_);
}

void Renderer::forget(std::string_view domain)
{
	bind_domain(forget_, domain);
	done(db_, forget_, path_, domain);
}

Renderer::Kept Renderer::keep(std::string_view domain, const Offered *offered)
{
	// Rendered per host when asked (rendering::prepare says so too).
	if (domain.starts_with("*.")) {
		forget(domain);
		return none;
	}
	bind_domain(read_, domain);
	const int rc = sqlite3_step(read_);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(read_);
		forget(domain);
		return none;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(read_);
		throw CopyError(path_ + ": " + log::one_line(domain) + ": reading it back: " + why(db_));
	}
	const plugin::Row row = plugin::row_of(read_);
	std::string digest = plugin::row_digest(domain, row);
	if (const auto made_for = plugin::bytes_of(read_, rendered_for_cell),
	    made_of = plugin::bytes_of(read_, rendered_for_cell + 1);
	    made_for && made_of && *made_for == fingerprint_ && *made_of == digest) {
		sqlite3_reset(read_);
		return current;
	}
	if (offered && offered->fingerprint == fingerprint_ && offered->digest == digest) {
		sqlite3_reset(read_);
		store(domain, digest, offered->bytes);
		return taken;
	}
	rendering::Outcome r;
	try {
		// The text the plugin's lookup hands the core for this row; a cell
		// it refuses gets no rendering, and the responder's full path
		// answers it (a 500) as it does without renderings.
		const std::string text = plugin::record_of(row, "sqlite", path_, domain);
		r = rendering::prepare(domain, text, with_.defaults, with_.policy);
	} catch (const std::exception &) {
		r.bytes.reset();
	}
	sqlite3_reset(read_);
	if (!r.bytes) {
		forget(domain);
		return none;
	}
	store(domain, digest, *r.bytes);
	return kept;
}

void Renderer::store(std::string_view domain, const std::string &digest, std::string_view bytes)
{
	bind_domain(store_, domain);
	sqlite3_bind_text(store_, 3, fingerprint_.data(), static_cast<int>(fingerprint_.size()),
	                  SQLITE_STATIC);
	sqlite3_bind_blob(store_, 4, digest.data(), static_cast<int>(digest.size()), SQLITE_STATIC);
	sqlite3_bind_blob(store_, 5, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
	done(db_, store_, path_, domain);
}

CatchUp catch_up(const std::string &path, const RenderWith &with, std::size_t batch,
                 const std::function<bool()> &stop, std::string &after)
{
	Db d;
	if (sqlite3_open_v2(path.c_str(), &d.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
		throw CopyError(path + ": " + why(d.db));
	sqlite3_busy_timeout(d.db, 10000);
	Renderer renderer(d.db, path, with);
	sqlite3_stmt *names = nullptr;
	prepare(d.db, path,
	        "SELECT domain FROM domains WHERE domain > ?1 AND domain NOT LIKE '*.%' "
	        "ORDER BY domain LIMIT ?2",
	        &names);
	CatchUp out;
	try {
		for (;;) {
			if (stop())
				break;
			if (sqlite3_exec(d.db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
				throw CopyError(path + ": begin: " + why(d.db));
			try {
				// The names first: keep() steps statements on the same
				// table, and `names` must not see the rows it writes.
				sqlite3_reset(names);
				sqlite3_bind_text(names, 1, after.data(), static_cast<int>(after.size()),
				                  SQLITE_TRANSIENT);
				sqlite3_bind_int64(names, 2, static_cast<std::int64_t>(batch));
				std::vector<std::string> these;
				int rc;
				while ((rc = sqlite3_step(names)) == SQLITE_ROW)
					these.emplace_back(reinterpret_cast<const char *>(sqlite3_column_text(names, 0)),
					                   static_cast<std::size_t>(sqlite3_column_bytes(names, 0)));
				sqlite3_reset(names);
				if (rc != SQLITE_DONE)
					throw CopyError(path + ": listing the domains to render: " + why(d.db));
				for (const std::string &domain : these) {
					const Renderer::Kept k = renderer.keep(domain);
					out.rendered += k == Renderer::kept;
					out.refused += k == Renderer::none;
				}
				if (sqlite3_exec(d.db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
					throw CopyError(path + ": committing renderings: " + why(d.db));
				if (!these.empty())
					after = these.back();
				if (these.size() < batch) {
					out.finished = true;
					break;
				}
			} catch (...) {
				sqlite3_exec(d.db, "ROLLBACK", nullptr, nullptr, nullptr);
				throw;
			}
		}
	} catch (...) {
		sqlite3_finalize(names);
		throw;
	}
	sqlite3_finalize(names);
	return out;
}

} // namespace mxd::follow
