// The PostgreSQL backend: records in a PostgreSQL table, one row per domain,
// shared by any number of responders on any number of machines.
//
// Two kinds of handle share this file:
//  - read (the responder): a small pool of connections, opened lazily, one
//    per thread that is inside a lookup at once, each with its prepared
//    lookup.  A server that is down does not fail open(): lookups answer
//    MXD_ERROR (the core serves what it cached, and 503 no-store for the
//    rest), and after a failure they fail at once until a backoff has
//    passed, so that a request never waits for a server known to be down.
//    One more connection LISTENs on "mxdelegate" (schema.sql's trigger
//    NOTIFYs at every committed change); generation() drains it.
//  - write ("access": "write" or "create", the admin tool): one connection,
//    one thread, the write side of ABI 1.1; puts inside a transaction are
//    buffered and sent with COPY, so that a bulk import is not a million
//    round trips, and so are the renderings kept beside them (ABI 1.3,
//    schema version 4: store_rendered), in COPY's binary form, since they
//    are bytes.
//
// The notification connection is driven from generation() itself, never by
// a thread of its own: the core asks for the generation every check_interval
// and acts on it only then, so a thread would notice a NOTIFY sooner without
// the cache being dropped any sooner.  Its (re)connection is non-blocking
// (PQconnectStartParams and PQconnectPoll, a bounded wait per call), so that
// generation() never holds up its caller for long while the server is away
// (except for libpq's name resolution, which is synchronous: a fleet names
// its database hosts in /etc/hosts or by address when DNS may be away too).
//
// Messages name the server by host, port, dbname and user only (target()):
// never the password, which may come from the conninfo, a passfile or the
// environment, all of them libpq's business.
#include <mxdelegate/backend.h>

#include "core/log.hpp"
#include "plugin/entry_points.hpp"
#include "plugin/outage.hpp"
#include "plugin/pq_text.hpp"
#include "plugin/plugin_config.hpp"
#include "plugin/reader_pool.hpp"
#include "plugin/schema_version.hpp"
#include "plugin/sql_columns.hpp"

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mxd {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The schema this plugin writes (mxdelegate_meta's schema_version), and
// the text that creates it (backends/postgres/schema.sql, embedded by the
// Makefile).  Version 2 added only the change log that mxdelegate-follow
// reads: the responder reads a version 1 store too, so that a rolling
// upgrade does not refuse a node before init migrated its store.
// Version 3 added the redirect columns; a store of version 1 or 2 is read
// with NULL in their place.  Version 4 added the table renderings; before
// it, lookup_rendered() is lookup().
constexpr plugin::SchemaVersion schema{4};
constexpr int first_rendering_version = 4;
constexpr int oldest_readable = 1;
constexpr const char schema_sql[] =
#include "schema.inc"
	;
// The part of schema.sql that migrates version 1 to 2: what follows this line.
constexpr std::string_view migration_1_to_2_mark = "\n-- version 2:";
static_assert(std::string_view(schema_sql).find(migration_1_to_2_mark) != std::string_view::npos,
              "schema.sql lost its \"-- version 2:\" line");
// And version 2 to 3.
constexpr std::string_view migration_2_to_3_mark = "\n-- version 3:";
static_assert(std::string_view(schema_sql).find(migration_2_to_3_mark) != std::string_view::npos,
              "schema.sql lost its \"-- version 3:\" line");
// And version 3 to 4.
constexpr std::string_view migration_3_to_4_mark = "\n-- version 4:";
static_assert(std::string_view(schema_sql).find(migration_3_to_4_mark) != std::string_view::npos,
              "schema.sql lost its \"-- version 4:\" line");

// Lookups after a failure answer at once for this long, doubling up to the
// maximum while the server stays away; the notification connection waits
// as long between its attempts.
constexpr plugin::Backoff backoff{std::chrono::milliseconds(250), std::chrono::milliseconds(2000)};
// How long one generation() call waits for the notification connection to
// make progress, and how long one attempt to connect it may take in all.
constexpr int listen_step_ms = 200;
constexpr std::chrono::seconds listen_attempt_limit{10};
// Rows, and bytes, a transaction buffers before it sends them with COPY
// (records and renderings each).
constexpr std::size_t copy_batch = 50000;
constexpr std::size_t copy_bytes = 32 << 20;

using plugin::Access;
using plugin::StatusError;

struct Settings {
	std::string conninfo;
	std::string target; // host=… port=… dbname=…, for messages
	Access access = Access::read;
	// [backend] timeout: statement_timeout and lock_timeout of the
	// responder's connections (the admin tool's are not bounded by it).
	std::chrono::milliseconds timeout = plugin::default_timeout;
};

// Whether a connection string holds a password of its own, as keyword or
// as URI user information: libpq's parse errors may echo any part of it.
bool holds_password(std::string_view conninfo)
{
	if (conninfo.find("password") != std::string_view::npos)
		return true;
	const auto scheme = conninfo.find("://");
	if (scheme == std::string_view::npos)
		return false;
	const auto rest = conninfo.substr(scheme + 3);
	const auto at = rest.find('@');
	return at != std::string_view::npos && rest.substr(0, at).find(':') != std::string_view::npos &&
	       rest.substr(0, at).find('/') == std::string_view::npos;
}

using Options = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

// The server(s) a connection string names, without its secrets:
// "host=a,b port=5432 dbname=mx user=mx".  Throws for a string libpq cannot
// parse.
std::string target(const std::string &conninfo)
{
	char *err = nullptr;
	Options opts(PQconninfoParse(conninfo.c_str(), &err), &PQconninfoFree);
	if (!opts) {
		std::string why = holds_password(conninfo)
		                      ? "libpq's reason is not shown, since the string holds a password"
		                      : plugin::pq_message(err);
		PQfreemem(err);
		throw StatusError(MXD_ERROR,
		              "postgres: [backend] conninfo: not a libpq connection string (" + why + ")");
	}
	return plugin::shown_conninfo(opts.get());
}

Settings configure(const char *config_json)
{
	static const plugin::ConfigRules rules{"postgres: ", {{"conninfo"}, plugin::timeout_key},
	                                       /*writable=*/true};
	const plugin::PluginConfig config(config_json, rules);
	const std::string *conninfo = config.text("conninfo");
	if (!conninfo)
		throw StatusError(MXD_ERROR, "postgres: [backend] conninfo: missing; a libpq connection "
		                             "string, such as \"host=db1,db2 dbname=mxdelegate user=mxdelegate "
		                             "target_session_attrs=prefer-standby\"");
	return {*conninfo, target(*conninfo), config.access(), config.timeout()};
}

// PQconnectdbParams' arguments: our defaults before the user's string, so
// that the string overrides them, and what we insist on after it.
class Params {
public:
	Params(const Settings &s, bool writer)
	{
		add("fallback_application_name", "mxdelegate");
		// A host that does not answer holds up one lookup for this long.
		add("connect_timeout", "3");
		// A server that vanished without a word (a cut link) is noticed.
		add("keepalives", "1");
		add("keepalives_idle", "10");
		add("keepalives_interval", "2");
		add("keepalives_count", "3");
		// The admin tool waits this long for another writer's lock, then
		// exits 75 (options in the conninfo replace it).
		if (writer)
			add("options", "-c lock_timeout=10s");
		add("dbname", s.conninfo.c_str());
		add("client_encoding", "UTF8");
		// The admin tool writes to the primary, whichever host the
		// responders were told to prefer.
		if (writer)
			add("target_session_attrs", "read-write");
		keys_.push_back(nullptr);
		values_.push_back(nullptr);
	}
	const char *const *keys() const { return keys_.data(); }
	const char *const *values() const { return values_.data(); }

private:
	void add(const char *k, const char *v)
	{
		keys_.push_back(k);
		values_.push_back(v);
	}
	std::vector<const char *> keys_, values_;
};

struct ConnDeleter {
	void operator()(PGconn *c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;
struct ResultDeleter {
	void operator()(PGresult *r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

bool lost(PGconn *c) { return PQstatus(c) == CONNECTION_BAD; }

std::string sqlstate(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
	return s ? s : "";
}

// A failed statement as a Failure: for the admin tool, a lock wait that ran
// out is MXD_BUSY.  For the responder (`reading`), a statement or lock wait
// cut at [backend] timeout is the store failing that request: MXD_ERROR,
// which also starts the read pool's back-off, so that while a lock is held
// the other workers fail at once instead of each waiting the deadline.
[[noreturn]] void raise(const Settings &s, PGconn *c, const PGresult *r, const char *what,
                        bool reading = false)
{
	const std::string state = sqlstate(r);
	const bool cut = reading && (state == "55P03" || state == "57014");
	const int status = !cut && (state == "55P03" || state == "40001" || state == "40P01") ? MXD_BUSY
	                                                                                      : MXD_ERROR;
	std::string message = "postgres: " + s.target + ": " + what + ": ";
	if (cut)
		message += "ran past [backend] timeout (" + std::to_string(s.timeout.count()) + " ms): ";
	message += plugin::pq_message(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r) : PQerrorMessage(c));
	if (status == MXD_BUSY)
		message += " (another mxdelegatectl holds the store; try again)";
	throw StatusError(status, message);
}

Result run(const Settings &s, PGconn *c, const char *sql, const char *what,
           ExecStatusType want = PGRES_COMMAND_OK)
{
	Result r(PQexec(c, sql));
	if (!r || PQresultStatus(r.get()) != want)
		raise(s, c, r.get(), what);
	return r;
}

Conn connect(const Settings &s, bool writer)
{
	const Params p(s, writer);
	Conn c(PQconnectdbParams(p.keys(), p.values(), 1));
	if (!c)
		throw StatusError(MXD_ERROR, "postgres: " + s.target + ": out of memory");
	if (lost(c.get())) {
		const std::string why = plugin::pq_message(PQerrorMessage(c.get()));
		// For the admin tool, a server that could not be reached, or said it
		// is starting or stopping, is an outage to wait out: MXD_BUSY, exit
		// 75 (EX_TEMPFAIL), so that a script retries.  One that answered and
		// refused (password, role, database) is not.  libpq gives no code
		// for a failed connection; a server's refusal is the one with its
		// severity, "FATAL:", in the message, and a password wanted and not
		// found is libpq's own refusal.
		const bool refused = (why.find("FATAL:") != std::string::npos &&
		                      why.find("the database system is") == std::string::npos) ||
		                     PQconnectionNeedsPassword(c.get());
		throw StatusError(writer && !refused ? MXD_BUSY : MXD_ERROR, "postgres: " + s.target + ": " + why);
	}
	return c;
}

// The schema version of the store the connection is on; 0 when it has none.
int version_of(const Settings &s, PGconn *c, bool reading = false)
{
	// Asked first, since a statement on a missing table would abort the
	// transaction init runs this in.
	Result exists(PQexec(c, "SELECT to_regclass('mxdelegate_meta') IS NOT NULL"));
	if (!exists || PQresultStatus(exists.get()) != PGRES_TUPLES_OK)
		raise(s, c, exists.get(), "reading the schema version", reading);
	if (std::string_view(PQgetvalue(exists.get(), 0, 0)) != "t")
		return 0;
	Result r(PQexec(c, "SELECT value FROM mxdelegate_meta WHERE name = 'schema_version'"));
	if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
		int v = 0;
		if (PQntuples(r.get()) != 1)
			return 0;
		const char *text = PQgetvalue(r.get(), 0, 0);
		const auto [end, ec] = std::from_chars(text, text + std::strlen(text), v);
		if (ec != std::errc() || *end)
			throw StatusError(MXD_ERROR, "postgres: " + s.target + ": mxdelegate_meta: "
			              "schema_version \"" + log::one_line(text) + "\" is not a number");
		return v;
	}
	raise(s, c, r.get(), "reading the schema version", reading);
}

void require_version(const Settings &s, int found, bool reading = false)
{
	if (reading && found >= oldest_readable && found < schema.expected)
		return;
	schema.require("postgres: " + s.target + ": ", found,
	               StatusError(MXD_NO_STORE, "postgres: " + s.target + ": no mxdelegate schema in this "
	                           "database yet; run \"mxdelegatectl init\" to create it"));
}

// The generation of columns a schema version has (plugin::latest_columns).
unsigned columns_of(int version)
{
	return version >= 3 ? 1 : 0;
}

std::string lookup_sql(unsigned columns = plugin::latest_columns)
{
	return "SELECT " + plugin::column_list({}, columns) + " FROM domains WHERE domain = $1";
}

std::string list_sql(unsigned columns)
{
	return "SELECT domain, " + plugin::column_list({}, columns) + " FROM domains ORDER BY domain";
}

// The record's columns, then its rendering's (NULL when it has none): one
// statement, one round trip, read in libpq's binary format, so that the
// rendering's bytes come as they are and not as bytea's hex text, which
// would cost a miss twice its size in decoding.  Every column of a binary
// result is binary: each record column is cast to the two types binary_row
// reads (text, whose binary form is its bytes as the text form has them,
// and bigint, 8 bytes big-endian), whatever an operator made of its type.
// Before version 4 there is no such statement: lookup_rendered is lookup.
std::string lookup_rendered_sql(unsigned columns = plugin::latest_columns)
{
	std::string list;
	for (const plugin::Column &c : plugin::record_columns) {
		list += list.empty() ? "" : ", ";
		const char *type = c.type == plugin::Column::integer ? "::bigint" : "::text";
		if (c.since > columns)
			list.append("NULL").append(type);
		else
			list.append("d.").append(c.name).append(type);
	}
	return "SELECT " + list + ", r.rendered_for, r.rendered_of, r.rendered FROM domains AS d "
	       "LEFT JOIN renderings AS r ON r.domain = d.domain WHERE d.domain = $1";
}
constexpr int rendered_for_cell = static_cast<int>(plugin::record_columns.size());
constexpr int rendered_of_cell = rendered_for_cell + 1;
constexpr int rendered_cell = rendered_for_cell + 2;

// The record's cells of row `row` of a text-format result, its columns
// starting at `first`; valid while `r` is.  An integer column's text that
// is not a whole number is a cell of another kind, which record_of names.
plugin::Row text_row(const PGresult *r, int row, int first)
{
	plugin::Row cells;
	for (int i = first; auto &cell : cells) {
		const int at = i++;
		if (PQgetisnull(r, row, at))
			continue;
		const std::string_view v(PQgetvalue(r, row, at), PQgetlength(r, row, at));
		cell = {plugin::Cell::text, v};
		if (plugin::record_columns[at - first].type == plugin::Column::integer) {
			const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), cell.number);
			cell.kind = ec == std::errc() && end == v.data() + v.size() ? plugin::Cell::integer
			                                                            : plugin::Cell::other;
		}
	}
	return cells;
}

// The same cells from lookup_rendered_sql's binary result: text as its
// bytes, bigint as 8 bytes big-endian.  They must be the cells text_row
// reads for the same row (a rendering's digest is made from one and
// checked against the other): text's binary form is its text form, and a
// bigint's value is the number its text spells.
plugin::Row binary_row(const PGresult *r, int row)
{
	plugin::Row cells;
	for (int at = 0; auto &cell : cells) {
		const int i = at++;
		if (PQgetisnull(r, row, i))
			continue;
		const std::string_view v(PQgetvalue(r, row, i), PQgetlength(r, row, i));
		if (plugin::record_columns[i].type != plugin::Column::integer) {
			cell = {plugin::Cell::text, v};
		} else if (v.size() == 8) {
			std::uint64_t n = 0;
			for (const char c : v)
				n = n << 8 | static_cast<unsigned char>(c);
			cell = {plugin::Cell::integer, {}, static_cast<std::int64_t>(n)};
		} else {
			cell.kind = plugin::Cell::other;
		}
	}
	return cells;
}

// Row `row` of `r`, its columns starting at `first`, as the JSON text
// lookup() hands out.
std::string record_of(const Settings &s, const PGresult *r, int row, int first,
                      std::string_view domain)
{
	return plugin::record_of(text_row(r, row, first), "postgres", s.target, domain);
}

Result lookup_on(PGconn *c, const char *domain)
{
	const char *params[] = {domain};
	return Result(PQexecPrepared(c, "lookup", 1, params, nullptr, nullptr, 0));
}

// The record and its rendering, binary (lookup_rendered_sql).
Result lookup_rendered_on(PGconn *c, const char *domain)
{
	const char *params[] = {domain};
	return Result(PQexecPrepared(c, "lookup_rendered", 1, params, nullptr, nullptr, 1));
}

// What a successful lookup found; false for a failed one.
bool found(const Settings &s, const Result &r, const char *domain, plugin::Found &out, int &rc)
{
	if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
		return false;
	rc = PQntuples(r.get()) == 0 ? MXD_NOT_FOUND : MXD_OK;
	if (rc == MXD_OK)
		out.set(record_of(s, r.get(), 0, 0, domain));
	return true;
}

// The same for lookup_rendered_on's result: the rendering when it was made
// under `fingerprint` for the row exactly as it is now (the digest of the
// cells just read), else the record, as lookup() builds it.
bool found_rendered(const Settings &s, const Result &r, const char *domain, const char *fingerprint,
                    plugin::Found &out, int &rc)
{
	if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
		return false;
	rc = PQntuples(r.get()) == 0 ? MXD_NOT_FOUND : MXD_OK;
	if (rc != MXD_OK)
		return true;
	const PGresult *res = r.get();
	const plugin::Row row = binary_row(res, 0);
	if (!PQgetisnull(res, 0, rendered_for_cell) && !PQgetisnull(res, 0, rendered_of_cell) &&
	    !PQgetisnull(res, 0, rendered_cell) &&
	    std::string_view(PQgetvalue(res, 0, rendered_for_cell),
	                     PQgetlength(res, 0, rendered_for_cell)) == fingerprint &&
	    plugin::row_digest(domain, row) ==
	        std::string_view(PQgetvalue(res, 0, rendered_of_cell), PQgetlength(res, 0, rendered_of_cell))) {
		out.set_rendered({PQgetvalue(res, 0, rendered_cell),
		                  static_cast<std::size_t>(PQgetlength(res, 0, rendered_cell))});
		return true;
	}
	out.set(plugin::record_of(row, "postgres", s.target, domain));
	return true;
}

// One field of a COPY text row: \N for NULL, and the four characters COPY
// gives a meaning to escaped.
void copy_field(std::string &out, const std::string *value)
{
	if (!value) {
		out += "\\N";
		return;
	}
	for (const char c : *value) {
		switch (c) {
		case '\\': out += "\\\\"; break;
		case '\t': out += "\\t"; break;
		case '\n': out += "\\n"; break;
		case '\r': out += "\\r"; break;
		default: out += c;
		}
	}
}

// A row as put() buffers it: the record's columns, NULL where absent.
struct Row {
	std::string domain;
	std::unique_ptr<std::string> fields[plugin::record_columns.size()];
	std::size_t bytes;

	Row(std::string d, const json &record) : domain(std::move(d)), bytes(domain.size())
	{
		int i = 0;
		for (const plugin::Column &col : plugin::record_columns) {
			if (auto it = record.find(col.name); it != record.end()) {
				// A value column keeps a string as JSON, quotes and all.
				const bool plain = it->is_string() && col.type != plugin::Column::value;
				fields[i] = std::make_unique<std::string>(plain ? it->get<std::string>() : it->dump());
				bytes += fields[i]->size();
			}
			i++;
		}
	}

	// The cells a lookup of the row will read once it is sent: COPY stores
	// each text as it is, and an integer column's text is the number's
	// own (json's dump), which PostgreSQL prints back the same.  Valid
	// while the row is.
	plugin::Row cells() const
	{
		plugin::Row out;
		for (std::size_t i = 0; i < out.size(); i++) {
			if (!fields[i])
				continue;
			const std::string_view v = *fields[i];
			out[i] = {plugin::Cell::text, v};
			if (plugin::record_columns[i].type == plugin::Column::integer) {
				const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out[i].number);
				out[i].kind = ec == std::errc() && end == v.data() + v.size() ? plugin::Cell::integer
				                                                              : plugin::Cell::other;
			}
		}
		return out;
	}
};

// A rendering as store_rendered() buffers it inside a transaction.
struct Rendering {
	std::string domain, fingerprint, digest, bytes;
};

// Appends COPY's binary form of a big-endian integer.
template <typename T>
void append_be(std::string &out, T v)
{
	for (int i = sizeof(T) - 1; i >= 0; i--)
		out.push_back(static_cast<char>(static_cast<std::make_unsigned_t<T>>(v) >> (8 * i)));
}

// The admin tool's connection: one thread, blocking calls.
class Writer {
public:
	explicit Writer(const Settings &s) : s_(s), c_(connect(s, true))
	{
		if (s_.access == Access::create)
			migrate();
		else
			require_version(s_, version_of(s_, c_.get()));
		prepare("lookup", lookup_sql().c_str());
		prepare("lookup_rendered", lookup_rendered_sql().c_str());
		// The domain's rendering goes with it, as put() forgets it.
		prepare("remove", "WITH forgotten AS (DELETE FROM renderings WHERE domain = $1) "
		                  "DELETE FROM domains WHERE domain = $1");
		prepare("forget", "DELETE FROM renderings WHERE domain = $1");
		std::string incoming = "CREATE TEMP TABLE mxd_incoming (domain text";
		for (const plugin::Column &col : plugin::record_columns)
			incoming += std::string(", ") + col.name + (col.type == plugin::Column::integer ? " bigint" : " text");
		run(s_, c_.get(), (incoming + ")").c_str(), "creating the import table");
		run(s_, c_.get(),
		    "CREATE TEMP TABLE mxd_rendered (domain text, rendered_for text, rendered_of bytea, "
		    "rendered bytea)",
		    "creating the renderings' import table");
	}

	// MXD_OK with out set, or MXD_NOT_FOUND.  A record put in this
	// transaction and not sent yet is answered from the buffer, as the
	// store will hold it: an import that renders each record after its
	// put reads nothing back from the server, and its COPY batches stay
	// whole.  The digest of what was read is kept for store_rendered(),
	// which the admin tool calls next for the same domain.
	int lookup(const char *domain, plugin::Found &out)
	{
		if (auto it = index_.find(domain); it != index_.end()) {
			const Row &row = pending_[it->second];
			const plugin::Row cells = row.cells();
			out.set(plugin::record_of(cells, "postgres", s_.target, domain));
			remember(domain, cells);
			return MXD_OK;
		}
		Result r = lookup_on(c_.get(), domain);
		int rc;
		if (!found(s_, r, domain, out, rc))
			raise(s_, c_.get(), r.get(), "lookup");
		if (rc == MXD_OK)
			remember(domain, text_row(r.get(), 0, 0));
		else
			read_.reset();
		return rc;
	}

	// What the responder's lookup_rendered() does, on this connection,
	// with this transaction's writes of the domain sent first (init asks
	// for each record before it renders it: sending every other one then
	// would make each rendering a COPY of its own).
	int lookup_rendered(const char *domain, const char *fingerprint, plugin::Found &out)
	{
		if (index_.count(domain) || rendering_index_.count(domain))
			flush();
		Result r = lookup_rendered_on(c_.get(), domain);
		int rc;
		if (!found_rendered(s_, r, domain, fingerprint, out, rc))
			raise(s_, c_.get(), r.get(), "lookup");
		return rc;
	}

	// Keeps `rendered` under `fingerprint` with the digest of the row as
	// it is now: as the admin tool's lookup() just read it (the rendering
	// was made from that text), or read again; nullopt forgets it.
	// Buffered inside a transaction and sent with COPY, after the records.
	bool store_rendered(const char *domain, const char *fingerprint,
	                    std::optional<std::string_view> rendered)
	{
		if (!read_ || read_->first != domain) {
			plugin::Found ignored;
			if (lookup(domain, ignored) == MXD_NOT_FOUND)
				return false;
		}
		const std::string digest = read_->second;
		drop_pending_rendering(domain);
		if (!rendered) {
			const char *params[] = {domain};
			Result r(PQexecPrepared(c_.get(), "forget", 1, params, nullptr, nullptr, 0));
			if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
				raise(s_, c_.get(), r.get(), "forgetting a rendering");
			return true;
		}
		rendering_index_.emplace(domain, renderings_.size());
		renderings_.push_back({domain, fingerprint, digest, std::string(*rendered)});
		renderings_bytes_ += rendered->size();
		send_buffered(renderings_.size() >= copy_batch || renderings_bytes_ >= copy_bytes);
		return true;
	}

	void list(int (*each)(void *, const char *, const char *), void *ctx)
	{
		flush();
		list_rows(s_, c_.get(), plugin::latest_columns, each, ctx);
	}

	void put(std::string domain, const json &record)
	{
		// Any put forgets the rendering (backend.h: the writer keeps a
		// fresh one after it): a buffered one here, a stored one when the
		// row is sent (flush).
		drop_pending_rendering(domain);
		if (read_ && read_->first == domain)
			read_.reset();
		Row row(std::move(domain), record);
		// A replaced row still counts: the figure only decides when to send.
		pending_bytes_ += row.bytes;
		if (auto it = index_.find(row.domain); it != index_.end()) {
			pending_[it->second] = std::move(row);
		} else {
			index_.emplace(row.domain, pending_.size());
			pending_.push_back(std::move(row));
		}
		send_buffered(pending_.size() >= copy_batch || pending_bytes_ >= copy_bytes);
	}

	bool remove(const char *domain)
	{
		flush();
		read_.reset();
		const char *params[] = {domain};
		Result r(PQexecPrepared(c_.get(), "remove", 1, params, nullptr, nullptr, 0));
		if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
			raise(s_, c_.get(), r.get(), "remove");
		return std::string_view(PQcmdTuples(r.get())) != "0";
	}

	void begin_tx()
	{
		run(s_, c_.get(), "BEGIN", "begin");
		in_tx_ = true;
		// The write lock now, as the SQLite store's BEGIN IMMEDIATE: what the
		// caller reads inside the transaction is what the commit builds on.
		// Readers are not blocked by it.
		try {
			run(s_, c_.get(), "LOCK TABLE domains IN SHARE ROW EXCLUSIVE MODE",
			    "taking the write lock");
		} catch (...) {
			rollback_tx();
			throw;
		}
	}

	void commit_tx()
	{
		flush();
		Result r = run(s_, c_.get(), "COMMIT", "commit");
		in_tx_ = false;
		// COMMIT of a failed transaction rolls back and says so only here.
		if (std::string_view(PQcmdStatus(r.get())) != "COMMIT")
			throw StatusError(MXD_ERROR, "postgres: " + s_.target + ": commit: the transaction "
			                         "was rolled back");
	}

	void rollback_tx()
	{
		pending_.clear();
		index_.clear();
		pending_bytes_ = 0;
		renderings_.clear();
		rendering_index_.clear();
		renderings_bytes_ = 0;
		read_.reset();
		in_tx_ = false;
		if (PQtransactionStatus(c_.get()) != PQTRANS_IDLE)
			run(s_, c_.get(), "ROLLBACK", "rollback");
	}

	static void list_rows(const Settings &s, PGconn *c, unsigned columns,
	                      int (*each)(void *, const char *, const char *), void *ctx)
	{
		// One row at a time: a million domains are not held in memory.
		if (!PQsendQuery(c, list_sql(columns).c_str()) || !PQsetSingleRowMode(c))
			raise(s, c, nullptr, "list");
		bool stopped = false;
		std::exception_ptr error;
		// Every result is read, even after each() stopped or a row was
		// bad, so that the connection is ready for the next statement.
		while (Result r{PQgetResult(c)}) {
			const auto st = PQresultStatus(r.get());
			if (stopped || error || st == PGRES_TUPLES_OK)
				continue;
			try {
				if (st != PGRES_SINGLE_TUPLE)
					raise(s, c, r.get(), "list");
				const char *domain = PQgetvalue(r.get(), 0, 0);
				stopped = each(ctx, domain, record_of(s, r.get(), 0, 1, domain).c_str()) != 0;
			} catch (const StatusError &) {
				error = std::current_exception();
			}
		}
		if (error)
			std::rethrow_exception(error);
	}

private:
	void prepare(const char *name, const char *sql)
	{
		Result r(PQprepare(c_.get(), name, sql, 0, nullptr));
		if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
			raise(s_, c_.get(), r.get(), "preparing a statement");
	}

	// What a write just buffered: outside a transaction, sent in one of its
	// own at once; inside, once `batch_full`, else at the commit.
	void send_buffered(bool batch_full)
	{
		if (!in_tx_) {
			begin_tx();
			try {
				flush();
				commit_tx();
			} catch (...) {
				rollback_tx();
				throw;
			}
		} else if (batch_full) {
			flush();
		}
	}

	void remember(const char *domain, const plugin::Row &cells)
	{
		read_.emplace(domain, plugin::row_digest(domain, cells));
	}

	void drop_pending_rendering(const std::string &domain)
	{
		const auto it = rendering_index_.find(domain);
		if (it == rendering_index_.end())
			return;
		const std::size_t at = it->second;
		rendering_index_.erase(it);
		renderings_bytes_ -= renderings_[at].bytes.size();
		// The last one takes its place: the order of a COPY does not matter.
		if (at + 1 != renderings_.size()) {
			renderings_[at] = std::move(renderings_.back());
			rendering_index_[renderings_[at].domain] = at;
		}
		renderings_.pop_back();
	}

	// Everything buffered: the records first, since sending them forgets
	// their domains' renderings, then the renderings made after them.
	void flush()
	{
		flush_records();
		flush_renderings();
	}

	// Sends `data` as the rows of a COPY already started.
	void copy_in(const std::string &data, const char *what)
	{
		// In pieces: PQputCopyData takes an int length.
		constexpr std::size_t piece = 1 << 20;
		for (std::size_t at = 0; at < data.size(); at += piece) {
			const std::size_t n = std::min(piece, data.size() - at);
			if (PQputCopyData(c_.get(), data.data() + at, static_cast<int>(n)) != 1)
				raise(s_, c_.get(), nullptr, what);
		}
		if (PQputCopyEnd(c_.get(), nullptr) != 1)
			raise(s_, c_.get(), nullptr, what);
		for (Result r{PQgetResult(c_.get())}; r; r.reset(PQgetResult(c_.get())))
			if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
				raise(s_, c_.get(), r.get(), what);
	}

	// The buffered renderings: COPY (binary: they are bytes, and hex text
	// would double them) into the session's table, then one upsert.
	void flush_renderings()
	{
		if (renderings_.empty())
			return;
		std::string data("PGCOPY\n\xff\r\n\0", 11);
		append_be<std::int32_t>(data, 0); // flags
		append_be<std::int32_t>(data, 0); // header extension
		for (const Rendering &r : renderings_) {
			append_be<std::int16_t>(data, 4);
			for (const std::string *f : {&r.domain, &r.fingerprint, &r.digest, &r.bytes}) {
				append_be<std::int32_t>(data, static_cast<std::int32_t>(f->size()));
				data += *f;
			}
		}
		append_be<std::int16_t>(data, -1);
		renderings_.clear();
		rendering_index_.clear();
		renderings_bytes_ = 0;
		run(s_, c_.get(), "COPY mxd_rendered FROM STDIN (FORMAT binary)", "keeping renderings",
		    PGRES_COPY_IN);
		copy_in(data, "keeping renderings");
		run(s_, c_.get(),
		    "INSERT INTO renderings SELECT domain, rendered_for, rendered_of, rendered FROM "
		    "mxd_rendered ON CONFLICT (domain) DO UPDATE SET rendered_for = excluded.rendered_for, "
		    "rendered_of = excluded.rendered_of, rendered = excluded.rendered",
		    "keeping renderings");
		run(s_, c_.get(), "TRUNCATE mxd_rendered", "keeping renderings");
	}

	// The buffered rows: COPY into the session's import table, then one
	// upsert from it.
	void flush_records()
	{
		if (pending_.empty())
			return;
		std::string data;
		data.reserve(pending_.size() * 160);
		for (const Row &row : pending_) {
			copy_field(data, &row.domain);
			for (const auto &f : row.fields) {
				data += '\t';
				copy_field(data, f.get());
			}
			data += '\n';
		}
		pending_.clear();
		index_.clear();
		pending_bytes_ = 0;
		run(s_, c_.get(), "COPY mxd_incoming FROM STDIN", "import", PGRES_COPY_IN);
		copy_in(data, "import");
		static const std::string upsert =
			"INSERT INTO domains AS d (domain, " + plugin::column_list() + ") SELECT domain, " +
			plugin::column_list() + " FROM mxd_incoming ON CONFLICT (domain) DO UPDATE SET " +
			plugin::column_updates() + ", updated = now() "
			// An unchanged record keeps its time of last change.
			"WHERE (" + plugin::column_list("d.") + ") IS DISTINCT FROM (" +
			plugin::column_list("excluded.") + ")";
		run(s_, c_.get(), upsert.c_str(), "import");
		// Every put forgets its domain's rendering (backend.h), changed or not.
		run(s_, c_.get(), "DELETE FROM renderings r USING mxd_incoming i WHERE r.domain = i.domain",
		    "import");
		run(s_, c_.get(), "TRUNCATE mxd_incoming", "import");
	}

	// Creates the schema in a database without it, or (once there are older
	// versions) migrates step by step; one transaction for all of it.
	void migrate()
	{
		run(s_, c_.get(), "BEGIN", "init");
		try {
			// Two inits at once: the second waits, then finds the schema.
			run(s_, c_.get(), "SELECT pg_advisory_xact_lock(7249017385)", "init",
			    PGRES_TUPLES_OK);
			const int found = version_of(s_, c_.get());
			schema.migratable("postgres: " + s_.target + ": ", found);
			if (found == 0) {
				Result r = run(s_, c_.get(), "SELECT to_regclass('domains') IS NOT NULL", "init",
				               PGRES_TUPLES_OK);
				if (std::string_view(PQgetvalue(r.get(), 0, 0)) == "t")
					throw StatusError(MXD_ERROR, "postgres: " + s_.target + ": holds a table "
					              "\"domains\" and no mxdelegate schema; refusing to add one");
				run(s_, c_.get(), schema_sql, "init: creating the schema");
			}
			// Migrations from version N to N+1, in order, as versions appear.
			static const std::string_view all(schema_sql);
			const std::size_t to_2 = all.find(migration_1_to_2_mark);
			const std::size_t to_3 = all.find(migration_2_to_3_mark);
			const std::size_t to_4 = all.find(migration_3_to_4_mark);
			if (found == 1) {
				static const std::string migration(all.substr(to_2, to_3 - to_2));
				run(s_, c_.get(), migration.c_str(), "init: migrating schema version 1 to 2");
			}
			if (found == 1 || found == 2) {
				static const std::string migration(all.substr(to_3, to_4 - to_3));
				run(s_, c_.get(), migration.c_str(), "init: migrating schema version 2 to 3");
			}
			if (found >= 1 && found <= 3) {
				static const std::string migration(all.substr(to_4));
				run(s_, c_.get(), migration.c_str(), "init: migrating schema version 3 to 4");
			}
			schema.created("postgres: " + s_.target + ": ", "schema_version", version_of(s_, c_.get()));
			if (found != schema.expected)
				run(s_, c_.get(), "SELECT pg_notify('mxdelegate', 'init')", "init", PGRES_TUPLES_OK);
			run(s_, c_.get(), "COMMIT", "init");
		} catch (...) {
			PQclear(PQexec(c_.get(), "ROLLBACK"));
			throw;
		}
	}

	const Settings &s_;
	Conn c_;
	bool in_tx_ = false;
	std::vector<Row> pending_;
	std::size_t pending_bytes_ = 0;
	std::unordered_map<std::string, std::size_t> index_;
	std::vector<Rendering> renderings_;
	std::size_t renderings_bytes_ = 0;
	std::unordered_map<std::string, std::size_t> rendering_index_;
	// The domain lookup() read last and the digest of its row.
	std::optional<std::pair<std::string, std::string>> read_;
};

// One read connection and its prepared lookup, used by one thread at a time.
struct Reader {
	Conn c;
	unsigned columns = plugin::latest_columns; // of the store's schema when connected
	bool renders = true; // the store keeps renderings (version 4): lookup_rendered is prepared

	explicit Reader(const Settings &s) : c(connect(s, false))
	{
		// Belt and braces: the responder never writes, whatever the role may.
		// The deadline, before anything that may wait for a lock: preparing
		// the lookup takes one on domains, which a VACUUM FULL, TRUNCATE or
		// ALTER TABLE holds for as long as it runs.  Set here rather than in
		// the conninfo's options, which the operator's string may replace.
		const std::string ms = std::to_string(s.timeout.count());
		run(s, c.get(), ("SET default_transaction_read_only = on; SET statement_timeout = " + ms +
		                 "; SET lock_timeout = " + ms).c_str(),
		    "connecting");
		const int version = version_of(s, c.get(), /*reading=*/true);
		require_version(s, version, /*reading=*/true);
		columns = columns_of(version);
		renders = version >= first_rendering_version;
		Result r(PQprepare(c.get(), "lookup", lookup_sql(columns).c_str(), 0, nullptr));
		if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
			raise(s, c.get(), r.get(), "preparing the lookup", /*reading=*/true);
		if (renders) {
			Result rr(PQprepare(c.get(), "lookup_rendered", lookup_rendered_sql(columns).c_str(), 0,
			                    nullptr));
			if (!rr || PQresultStatus(rr.get()) != PGRES_COMMAND_OK)
				raise(s, c.get(), rr.get(), "preparing the lookup", /*reading=*/true);
		}
	}

	// A connection that died with a server restart is not lent again.
	bool alive() const { return !lost(c.get()); }
};

class Handle {
public:
	static constexpr const char *name = "postgres";

	static std::unique_ptr<Handle> open(const char *config_json, const mxd_host *host)
	{
		return std::make_unique<Handle>(configure(config_json), host);
	}

	Handle(Settings s, const mxd_host *host)
	    : s_(std::move(s)), pool_(backoff),
	      outage_(plugin::Log(host), "; serving cached answers, 503 for the rest, until the database "
	                                 "is back", /*each_reason=*/false)
	{
		if (s_.access != Access::read)
			writer_ = std::make_unique<Writer>(s_);
	}

	Handle(const Handle &) = delete;
	Handle &operator=(const Handle &) = delete;

	bool writable() const { return writer_ != nullptr; }
	void put(std::string key, const json &record) { writer_->put(std::move(key), record); }
	bool remove(const char *domain) { return writer_->remove(domain); }
	void begin() { writer_->begin_tx(); }
	void commit() { writer_->commit_tx(); }
	void rollback() { writer_->rollback_tx(); }

	int lookup(const char *domain, plugin::Found &out)
	{
		if (writer_)
			return writer_->lookup(domain, out);
		return read(domain, nullptr, out);
	}

	// One statement reads the record's columns and the rendering's: the
	// bytes go out only when they were made under this fingerprint for
	// the row exactly as it is now, else the record, as lookup() would.
	// A store before version 4 keeps none: lookup().
	int lookup_rendered(const char *domain, const char *fingerprint, plugin::Found &out)
	{
		if (writer_)
			return writer_->lookup_rendered(domain, fingerprint, out);
		return read(domain, fingerprint, out);
	}

	bool store_rendered(const char *domain, const char *fingerprint,
	                    std::optional<std::string_view> rendered)
	{
		return writer_->store_rendered(domain, fingerprint, rendered);
	}

	void list(plugin::Each each, void *ctx)
	{
		if (writer_)
			return writer_->list(each, ctx);
		// Listing is the admin tool's (export, check), never a request's: a
		// million rows take longer than any lookup's deadline.  The
		// connection leaves the pool with its deadline gone.
		auto reader = acquire();
		run(s_, reader->c.get(), "SET statement_timeout = 0; SET lock_timeout = 0", "list");
		try {
			Writer::list_rows(s_, reader->c.get(), reader->columns, each, ctx);
		} catch (const StatusError &) {
			if (lost(reader->c.get()))
				pool_.retire();
			throw;
		}
	}

	// Throws while the notification connection is down: nothing tells this
	// responder of changes then.
	std::uint64_t generation()
	{
		if (writer_) // the admin tool has nothing cached
			return 1;
		// The first call comes while the responder starts (or only checks
		// its configuration): nothing is cached yet, so it need not wait for
		// the network, and a server that is away is no reason not to start
		// (lookups answer 503 until it is back), as a missing file is none
		// for the SQLite store.  The connection is made at the next call.
		if (!asked_.exchange(true))
			return generation_.load();
		// Another thread is driving the connection: its answer is ours.
		if (std::unique_lock lock(listen_, std::try_to_lock); lock.owns_lock())
			drive();
		if (auto why = outage_.why())
			throw StatusError(MXD_ERROR, *why);
		return generation_.load();
	}

private:
	using Pool = plugin::ReaderPool<Reader>;

	// A lookup on a pooled connection: the record alone (fingerprint null)
	// or with its rendering.
	int read(const char *domain, const char *fingerprint, plugin::Found &out)
	{
		// A pooled connection may have died with a server restart that
		// nobody noticed yet: one more try on a new connection then.
		for (int attempt = 0;; attempt++) {
			auto reader = acquire();
			const bool rendered = fingerprint && reader->renders;
			Result r = rendered ? lookup_rendered_on(reader->c.get(), domain)
			                    : lookup_on(reader->c.get(), domain);
			if (int rc; rendered ? found_rendered(s_, r, domain, fingerprint, out, rc)
			                     : found(s_, r, domain, out, rc)) {
				pool_.release(std::move(reader));
				return rc;
			}
			const bool dead = lost(reader->c.get());
			try {
				raise(s_, reader->c.get(), r.get(), "lookup", /*reading=*/true);
			} catch (const StatusError &e) {
				// The connection is dropped either way: a statement that
				// fails on a live one (a table changed by a migration) may
				// fail the same way until it is prepared anew.
				pool_.retire();
				if (dead && reader.reused && attempt == 0)
					continue;
				pool_.failed(e.status(), e.what());
				throw;
			}
		}
	}

	// A connection from the pool, or a new one; throws at once while the
	// server is known to be down and the back-off runs.
	Pool::Lease acquire()
	{
		return pool_.acquire([this] { return std::make_unique<Reader>(s_); });
	}

	// The notification connection, one step further: connect, LISTEN,
	// drain.  Called with listen_ held; waits listen_step_ms at most.
	void drive()
	{
		const auto deadline = Clock::now() + std::chrono::milliseconds(listen_step_ms);
		for (;;) {
			switch (phase_) {
			case Phase::idle:
				if (Clock::now() < listen_retry_at_)
					return;
				start_connect();
				break;
			case Phase::connecting:
				if (!step_connect(deadline))
					return;
				break;
			case Phase::subscribing:
				if (!step_subscribe(deadline))
					return;
				break;
			case Phase::listening:
				drain();
				return;
			}
		}
	}

	void start_connect()
	{
		const Params p(s_, false);
		listen_conn_.reset(PQconnectStartParams(p.keys(), p.values(), 1));
		listen_started_ = Clock::now();
		if (!listen_conn_ || lost(listen_conn_.get()))
			return listen_failed("cannot connect: " +
			                     (listen_conn_ ? plugin::pq_message(PQerrorMessage(listen_conn_.get()))
			                                   : std::string("out of memory")));
		poll_ = PGRES_POLLING_WRITING;
		phase_ = Phase::connecting;
	}

	// Waits for the socket until the deadline; false when it is not ready.
	bool ready(bool write, Clock::time_point deadline)
	{
		const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
		                                                                        Clock::now());
		pollfd fd{PQsocket(listen_conn_.get()), static_cast<short>(write ? POLLOUT : POLLIN), 0};
		return fd.fd >= 0 &&
		       ::poll(&fd, 1, static_cast<int>(std::max<std::int64_t>(0, left.count()))) > 0;
	}

	bool step_connect(Clock::time_point deadline)
	{
		if (Clock::now() - listen_started_ > listen_attempt_limit) {
			listen_failed("no connection after " +
			              std::to_string(listen_attempt_limit.count()) + " s");
			return false;
		}
		if (poll_ != PGRES_POLLING_OK && !ready(poll_ == PGRES_POLLING_WRITING, deadline))
			return false;
		poll_ = PQconnectPoll(listen_conn_.get());
		if (poll_ == PGRES_POLLING_FAILED) {
			listen_failed(plugin::pq_message(PQerrorMessage(listen_conn_.get())));
			return false;
		}
		if (poll_ != PGRES_POLLING_OK)
			return true;
		if (!PQsendQuery(listen_conn_.get(), "LISTEN mxdelegate")) {
			listen_failed(plugin::pq_message(PQerrorMessage(listen_conn_.get())));
			return false;
		}
		PQsetnonblocking(listen_conn_.get(), 1);
		phase_ = Phase::subscribing;
		return true;
	}

	bool step_subscribe(Clock::time_point deadline)
	{
		PGconn *c = listen_conn_.get();
		while (PQisBusy(c)) {
			if (!ready(false, deadline))
				return false;
			if (!PQconsumeInput(c)) {
				listen_failed(plugin::pq_message(PQerrorMessage(c)));
				return false;
			}
		}
		bool ok = true;
		std::string why;
		while (Result r{PQgetResult(c)}) {
			if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
				ok = false;
				why = plugin::pq_message(PQresultErrorMessage(r.get()));
			}
		}
		if (!ok) {
			listen_failed("LISTEN: " + why);
			return false;
		}
		phase_ = Phase::listening;
		listen_backoff_ = backoff.first;
		// Whatever changed while nobody listened is unknown: everything
		// cached goes, once, and so do the pooled readers, since an init
		// whose notification nobody heard (before the first LISTEN, or
		// while it was lost) may have migrated the schema their lookups
		// were prepared for.  The lookups may try the server again at once.
		generation_.fetch_add(1);
		pool_.retire();
		pool_.recovered();
		outage_.up("postgres: " + s_.target + ": notifications work again; "
		           "cached answers dropped once, serving from the database");
		return true;
	}

	void drain()
	{
		PGconn *c = listen_conn_.get();
		if (!PQconsumeInput(c) || lost(c))
			return listen_failed("notification connection lost: " + plugin::pq_message(PQerrorMessage(c)));
		bool any = false, init = false;
		while (PGnotify *n = PQnotifies(c)) {
			any = true;
			// "mxdelegatectl init" created or migrated the schema: the
			// pooled readers' lookups were prepared for the old columns
			// (NULL for the redirect ones before version 3).
			init = init || std::string_view(n->extra) == "init";
			PQfreemem(n);
		}
		if (init)
			pool_.retire();
		if (any)
			generation_.fetch_add(1);
	}

	void listen_failed(const std::string &why)
	{
		const bool was_listening = phase_ == Phase::listening;
		listen_conn_.reset();
		phase_ = Phase::idle;
		listen_retry_at_ = Clock::now() + listen_backoff_;
		listen_backoff_ = std::min(listen_backoff_ * 2, backoff.max);
		if (was_listening)
			pool_.retire(); // the pool's connections went the same way, most likely
		outage_.down("postgres: " + s_.target + ": " + why);
	}

	const Settings s_;
	std::unique_ptr<Writer> writer_;
	Pool pool_;
	// The notification connection's failure.
	plugin::Outage outage_;
	std::atomic<bool> asked_{false};

	// The notification connection; guarded by listen_.
	enum class Phase { idle, connecting, subscribing, listening };
	std::mutex listen_;
	Phase phase_ = Phase::idle;
	Conn listen_conn_;
	PostgresPollingStatusType poll_ = PGRES_POLLING_WRITING;
	Clock::time_point listen_started_;
	Clock::time_point listen_retry_at_;
	std::chrono::milliseconds listen_backoff_ = backoff.first;
	std::atomic<std::uint64_t> generation_{1};
};

} // namespace
} // namespace mxd

extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend =
	mxd::plugin::backend_table<mxd::Handle>();
