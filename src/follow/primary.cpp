#include "follow/primary.hpp"

#include "follow/conninfo.hpp"
#include "plugin/plugin_strings.hpp"
#include "plugin/pq_text.hpp"
#include "plugin/schema_version.hpp"

#include <charconv>
#include <cstring>

namespace mxd::follow {
namespace {

struct ResultDeleter {
	void operator()(PGresult *r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

std::int64_t number(const char *text, std::string_view what, const std::string &where)
{
	std::int64_t v = 0;
	const auto [end, ec] = std::from_chars(text, text + std::strlen(text), v);
	if (ec != std::errc() || *end)
		throw Unreachable(where + std::string(what) + " \"" + plugin::pq_message(text) + "\" is not a number");
	return v;
}

// created and updated as the SQLite store keeps them.
constexpr const char *utc(const char *column)
{
	return column[0] == 'c'
	           ? "to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	           : "to_char(updated AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";
}

// The record's columns after the domain, each cast to the two types
// row_of reads in libpq's binary format (text, bigint), then created and
// updated, then the rendering's three columns (NULL before schema 4, and
// for a row without one).  Binary, since the rendering is bytea: its text
// form is hex, twice its size to send and decode for every row of a full
// copy.
std::string row_columns(unsigned columns, bool renderings)
{
	std::string list;
	for (const plugin::Column &c : plugin::record_columns) {
		const char *type = c.type == plugin::Column::integer ? "::bigint" : "::text";
		list += ", ";
		if (c.since > columns)
			list.append("NULL").append(type);
		else
			list.append("d.").append(c.name).append(type);
	}
	return list + ", " + utc("created") + ", " + utc("updated") +
	       (renderings ? ", r.rendered_for, r.rendered_of, r.rendered"
	                   : ", NULL::text, NULL::bytea, NULL::bytea");
}

std::string renderings_join(bool renderings)
{
	return renderings ? " LEFT JOIN renderings r ON r.domain = d.domain" : "";
}

std::string_view cell(const PGresult *r, int i, int at)
{
	return {PQgetvalue(r, i, at), static_cast<std::size_t>(PQgetlength(r, i, at))};
}

// Row `i` of a binary result of row_columns after its domain (column 0):
// text as its bytes, a bigint's 8 bytes big-endian as the decimal text the
// copy's INTEGER columns take, as the text result gave it before.
Row row_of(const PGresult *r, int i)
{
	Row row;
	row.domain = cell(r, i, 0);
	int at = 1;
	for (std::size_t c = 0; c < row.cells.size(); c++, at++) {
		if (PQgetisnull(r, i, at))
			continue;
		const std::string_view v = cell(r, i, at);
		if (plugin::record_columns[c].type != plugin::Column::integer) {
			row.cells[c].emplace(v);
			continue;
		}
		std::uint64_t n = 0;
		for (const char ch : v)
			n = n << 8 | static_cast<unsigned char>(ch);
		row.cells[c].emplace(std::to_string(static_cast<std::int64_t>(n)));
	}
	row.created = cell(r, i, at);
	row.updated = cell(r, i, at + 1);
	if (!PQgetisnull(r, i, at + 2) && !PQgetisnull(r, i, at + 3) && !PQgetisnull(r, i, at + 4))
		row.offered = Offered{std::string(cell(r, i, at + 2)), std::string(cell(r, i, at + 3)),
		                      std::string(cell(r, i, at + 4))};
	return row;
}

} // namespace

Primary::Primary(std::string conninfo, std::string shown)
    : conninfo_(std::move(conninfo)), shown_(std::move(shown))
{
}

Primary::~Primary() { disconnect(); }

void Primary::disconnect()
{
	if (conn_)
		PQfinish(conn_);
	conn_ = nullptr;
}

int Primary::socket() const { return conn_ ? PQsocket(conn_) : -1; }

void Primary::fail(const PGresult *r, std::string_view what)
{
	std::string message = where() + std::string(what) + ": " +
	                      plugin::pq_message(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
	                                                                : PQerrorMessage(conn_));
	disconnect();
	throw Unreachable(message);
}

void Primary::connect()
{
	disconnect();
	// Our defaults before the operator's string, so that it overrides them.
	const char *keys[] = {"fallback_application_name", "connect_timeout", "keepalives",
	                      "keepalives_idle", "keepalives_interval", "keepalives_count", "dbname",
	                      "client_encoding", nullptr};
	const char *values[] = {"mxdelegate-follow", "3", "1", "10", "2", "3", conninfo_.c_str(), "UTF8",
	                        nullptr};
	conn_ = PQconnectdbParams(keys, values, 1);
	if (!conn_ || PQstatus(conn_) == CONNECTION_BAD)
		fail(nullptr, "cannot connect");
	Result exists(PQexec(conn_, "SELECT to_regclass('mxdelegate_meta') IS NOT NULL"));
	if (!exists || PQresultStatus(exists.get()) != PGRES_TUPLES_OK)
		fail(exists.get(), "reading the schema version");
	int found = 0;
	if (std::string_view(PQgetvalue(exists.get(), 0, 0)) == "t") {
		Result r(PQexec(conn_, "SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'"));
		if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
			fail(r.get(), "reading the schema version");
		if (PQntuples(r.get()) == 1)
			found = static_cast<int>(number(PQgetvalue(r.get(), 0, 0), "schema_version", where()));
	}
	columns_ = found >= 3 ? 1 : 0;
	renderings_ = found >= first_rendering_schema;
	try {
		if (found < oldest_primary_schema || found > primary_schema)
			plugin::SchemaVersion{found > primary_schema ? primary_schema : oldest_primary_schema}.require(
			"postgres: " + shown_ + ": ", found,
			plugin::StatusError(MXD_NO_STORE, "postgres: " + shown_ + ": no mxdelegate schema in "
			                    "this database yet; run \"mxdelegatectl init\" to create it"));
	} catch (const plugin::StatusError &e) {
		disconnect();
		throw WrongSchema(e.what());
	}
	Result listen(PQexec(conn_, "LISTEN mxdelegate"));
	if (!listen || PQresultStatus(listen.get()) != PGRES_COMMAND_OK)
		fail(listen.get(), "LISTEN");
}

bool Primary::notified()
{
	if (!conn_)
		throw Unreachable(where() + "not connected");
	if (!PQconsumeInput(conn_) || PQstatus(conn_) == CONNECTION_BAD)
		fail(nullptr, "connection lost");
	bool any = false;
	while (PGnotify *n = PQnotifies(conn_)) {
		any = true;
		PQfreemem(n);
	}
	return any;
}

void Primary::begin_snapshot()
{
	if (!conn_)
		throw Unreachable(where() + "not connected");
	Result r(PQexec(conn_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
	if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
		fail(r.get(), "BEGIN");
}

Head Primary::head()
{
	Result r(PQexec(conn_,
	                "SELECT (SELECT value FROM mxdelegate_meta WHERE name = 'store_id'), "
	                "(SELECT coalesce(max(seq), 0) FROM mxdelegate_changes), "
	                "(SELECT value FROM mxdelegate_meta WHERE name = 'changes_pruned_through'), "
	                "(SELECT value FROM mxdelegate_meta WHERE name = 'schema_version')"));
	if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
		fail(r.get(), "reading the change log");
	// "mxdelegatectl init" may have migrated the store while this
	// connection lived: the rows of this snapshot are read with the columns
	// it has now.  A row copied before had no value in the new columns.
	const auto version = number(PQgetvalue(r.get(), 0, 3), "schema_version", where());
	columns_ = version >= 3 ? 1 : 0;
	renderings_ = version >= first_rendering_schema;
	Head h;
	h.store_id = PQgetvalue(r.get(), 0, 0);
	h.max_seq = number(PQgetvalue(r.get(), 0, 1), "max(seq)", where());
	h.pruned_through = number(PQgetvalue(r.get(), 0, 2), "changes_pruned_through", where());
	// Everything pruned: the copy is as new as the last pruned change.
	h.max_seq = std::max(h.max_seq, h.pruned_through);
	return h;
}

Head Primary::copy(const std::function<void(const Row &)> &each)
{
	begin_snapshot();
	const Head h = head();
	const std::string sql = "SELECT d.domain" + row_columns(columns_, renderings_) + " FROM domains d" +
	                        renderings_join(renderings_) + " ORDER BY d.domain";
	// One row at a time: a million domains are not held in memory.
	if (!PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1) ||
	    !PQsetSingleRowMode(conn_))
		fail(nullptr, "reading the domains");
	std::exception_ptr stopped;
	bool failed = false;
	std::string why;
	// Every result is read, even after each() threw, so that the
	// connection is ready for the next statement.
	while (Result r{PQgetResult(conn_)}) {
		const auto st = PQresultStatus(r.get());
		if (stopped || failed || st == PGRES_TUPLES_OK)
			continue;
		if (st != PGRES_SINGLE_TUPLE) {
			failed = true;
			why = plugin::pq_message(PQresultErrorMessage(r.get()));
			continue;
		}
		try {
			each(row_of(r.get(), 0));
		} catch (...) {
			stopped = std::current_exception();
		}
	}
	if (failed) {
		disconnect();
		throw Unreachable(where() + "reading the domains: " + why);
	}
	Result end(PQexec(conn_, stopped ? "ROLLBACK" : "COMMIT"));
	if (stopped)
		std::rethrow_exception(stopped);
	if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
		fail(end.get(), "COMMIT");
	return h;
}

Changes Primary::changes(std::int64_t last, const std::string &store_id, std::size_t limit)
{
	begin_snapshot();
	Changes out;
	out.head = head();
	auto finish = [&] {
		Result end(PQexec(conn_, "COMMIT"));
		if (!end || PQresultStatus(end.get()) != PGRES_COMMAND_OK)
			fail(end.get(), "COMMIT");
		return std::move(out);
	};
	if (out.head.store_id != store_id) {
		out.full = true;
		out.why = "the primary is another store (store_id " + plugin::pq_message(out.head.store_id.c_str()) +
		          ", the copy's " + plugin::pq_message(store_id.c_str()) + ")";
		return finish();
	}
	if (last < out.head.pruned_through) {
		out.full = true;
		out.why = "changes up to seq " + std::to_string(out.head.pruned_through) +
		          " were pruned before this copy (seq " + std::to_string(last) + ") read them";
		return finish();
	}
	if (out.head.max_seq < last) {
		// The store was put back to an earlier moment (a backup restored
		// in place): the copy holds changes the primary no longer has.
		out.full = true;
		out.why = "the primary's change log ends at seq " + std::to_string(out.head.max_seq) +
		          ", before this copy's " + std::to_string(last);
		return finish();
	}
	if (out.head.max_seq == last)
		return finish();
	const std::string from = std::to_string(last), to = std::to_string(out.head.max_seq);
	const char *params[] = {from.c_str(), to.c_str()};
	Result count(PQexecParams(conn_,
	                          "SELECT count(DISTINCT domain), bool_or(domain IS NULL) "
	                          "FROM mxdelegate_changes WHERE seq > $1 AND seq <= $2",
	                          2, nullptr, params, nullptr, nullptr, 0));
	if (!count || PQresultStatus(count.get()) != PGRES_TUPLES_OK)
		fail(count.get(), "reading the change log");
	const auto n = number(PQgetvalue(count.get(), 0, 0), "count", where());
	if (std::string_view(PQgetvalue(count.get(), 0, 1)) == "t") {
		out.full = true;
		out.why = "the domains were emptied with TRUNCATE";
		return finish();
	}
	if (static_cast<std::size_t>(n) > limit) {
		out.full = true;
		out.why = std::to_string(n) + " domains changed, more than " + std::to_string(limit) +
		          " are copied whole";
		return finish();
	}
	const std::string sql = "SELECT c.domain" + row_columns(columns_, renderings_) +
	                        ", d.domain IS NULL FROM (SELECT DISTINCT domain FROM "
	                        "mxdelegate_changes WHERE seq > $1 AND seq <= $2) c "
	                        "LEFT JOIN domains d ON d.domain = c.domain" + renderings_join(renderings_) +
	                        " ORDER BY c.domain";
	Result r(PQexecParams(conn_, sql.c_str(), 2, nullptr, params, nullptr, nullptr, 1));
	if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
		fail(r.get(), "reading the changed domains");
	const int gone = PQnfields(r.get()) - 1;
	for (int i = 0, rows = PQntuples(r.get()); i < rows; i++) {
		std::string domain(PQgetvalue(r.get(), i, 0), PQgetlength(r.get(), i, 0));
		// A bool's binary form: one byte, 1 for true.
		if (PQgetlength(r.get(), i, gone) == 1 && PQgetvalue(r.get(), i, gone)[0] == 1)
			out.rows.emplace_back(std::move(domain), std::nullopt);
		else
			out.rows.emplace_back(std::move(domain), row_of(r.get(), i));
	}
	return finish();
}

} // namespace mxd::follow
