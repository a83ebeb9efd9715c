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
//    round trips.
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
#include "plugin/plugin_record.hpp"
#include "plugin/plugin_strings.hpp"

#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mxd {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The schema this plugin reads and writes (mxdelegate_meta's
// schema_version), and the text that creates it (backends/postgres/
// schema.sql, embedded by the Makefile).
constexpr int schema_version = 1;
constexpr const char schema_sql[] =
#include "schema.inc"
	;

// Lookups after a failure answer at once for this long, doubling up to the
// maximum while the server stays away.
constexpr std::chrono::milliseconds first_backoff{250};
constexpr std::chrono::milliseconds max_backoff{2000};
// How long one generation() call waits for the notification connection to
// make progress, and how long one attempt to connect it may take in all.
constexpr int listen_step_ms = 200;
constexpr std::chrono::seconds listen_attempt_limit{10};
// Rows, and bytes, a transaction buffers before it sends them with COPY.
constexpr std::size_t copy_batch = 50000;
constexpr std::size_t copy_bytes = 32 << 20;

using plugin::Failure;

enum class Access { read, write, create };

struct Settings {
	std::string conninfo;
	std::string target; // host=… port=… dbname=…, for messages
	Access access = Access::read;
};

std::string printable(std::string_view s) { return log::one_line(s); }

// libpq's messages end in a newline and may hold several lines ("connection
// to server … failed: …\n\tIs the server running …"): one line here.
std::string tidy(const char *message)
{
	std::string out;
	bool space = false;
	for (const char *p = message ? message : ""; *p; ++p) {
		const char c = *p;
		if (c == '\n' || c == '\t' || c == '\r') {
			space = true;
			continue;
		}
		if (space && !out.empty())
			out += ' ';
		space = false;
		out += c;
	}
	return out.empty() ? "unknown error" : printable(out);
}

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
		                      : tidy(err);
		PQfreemem(err);
		throw Failure(MXD_ERROR,
		              "postgres: [backend] conninfo: not a libpq connection string (" + why + ")");
	}
	auto value = [&](std::string_view keyword) -> std::string {
		for (const PQconninfoOption *o = opts.get(); o->keyword; ++o)
			if (o->keyword == keyword && o->val && *o->val)
				return printable(o->val);
		return "";
	};
	std::string out;
	if (const auto host = value("host"); !host.empty())
		out = "host=" + host;
	else if (const auto addr = value("hostaddr"); !addr.empty())
		out = "hostaddr=" + addr;
	else
		out = "host=(libpq default)";
	for (const char *k : {"port", "dbname", "user", "service"})
		if (const auto v = value(k); !v.empty())
			out += std::string(" ") + k + "=" + v;
	return out;
}

Settings configure(const char *config_json)
{
	if (!config_json)
		throw Failure(MXD_ERROR, "postgres: no configuration");
	const json config = json::parse(config_json);
	if (!config.is_object())
		throw Failure(MXD_ERROR, "postgres: configuration is not a JSON object");
	Settings s;
	bool have_conninfo = false;
	for (const auto &[key, value] : config.items()) {
		if (key == "config_file" || key == "config_dir")
			continue;
		if (key != "conninfo" && key != "access")
			throw Failure(MXD_ERROR, "postgres: unknown key in [backend]: " + printable(key) +
			                             " (known: conninfo)");
		if (!value.is_string())
			throw Failure(MXD_ERROR, "postgres: [backend] " + key + ": must be a string");
		const auto &v = value.get_ref<const std::string &>();
		if (key == "conninfo") {
			s.conninfo = v;
			have_conninfo = true;
		} else if (v == "read")
			s.access = Access::read;
		else if (v == "write")
			s.access = Access::write;
		else if (v == "create")
			s.access = Access::create;
		else
			throw Failure(MXD_ERROR, "postgres: access: \"" + printable(v) +
			                             "\" is not read, write or create");
	}
	if (!have_conninfo)
		throw Failure(MXD_ERROR, "postgres: [backend] conninfo: missing; a libpq connection "
		                         "string, such as \"host=db1,db2 dbname=mxdelegate user=mxdelegate "
		                         "target_session_attrs=prefer-standby\"");
	s.target = target(s.conninfo);
	return s;
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

// A failed statement as a Failure: a lock wait that ran out is MXD_BUSY.
[[noreturn]] void raise(const Settings &s, PGconn *c, const PGresult *r, const char *what)
{
	const std::string state = sqlstate(r);
	const int status = state == "55P03" || state == "40001" || state == "40P01" ? MXD_BUSY : MXD_ERROR;
	std::string message = "postgres: " + s.target + ": " + what + ": " +
	                      tidy(r && *PQresultErrorMessage(r) ? PQresultErrorMessage(r)
	                                                         : PQerrorMessage(c));
	if (status == MXD_BUSY)
		message += " (another mxdelegatectl holds the store; try again)";
	throw Failure(status, message);
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
		throw Failure(MXD_ERROR, "postgres: " + s.target + ": out of memory");
	if (lost(c.get()))
		throw Failure(MXD_ERROR, "postgres: " + s.target + ": " + tidy(PQerrorMessage(c.get())));
	return c;
}

// The schema version of the store the connection is on; 0 when it has none.
int version_of(const Settings &s, PGconn *c)
{
	// Asked first, since a statement on a missing table would abort the
	// transaction init runs this in.
	Result exists = run(s, c, "SELECT to_regclass('mxdelegate_meta') IS NOT NULL",
	                    "reading the schema version", PGRES_TUPLES_OK);
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
			throw Failure(MXD_ERROR, "postgres: " + s.target + ": mxdelegate_meta: "
			              "schema_version \"" + printable(text) + "\" is not a number");
		return v;
	}
	raise(s, c, r.get(), "reading the schema version");
}

void require_version(const Settings &s, int found)
{
	if (found == schema_version)
		return;
	const std::string where = "postgres: " + s.target + ": ";
	if (found == 0)
		throw Failure(MXD_NO_STORE, where + "no mxdelegate schema in this database yet; run "
		              "\"mxdelegatectl init\" to create it");
	if (found < schema_version)
		throw Failure(MXD_ERROR, where + "schema version " + std::to_string(found) +
		              ", expected " + std::to_string(schema_version) +
		              "; run \"mxdelegatectl init\" to migrate it");
	throw Failure(MXD_ERROR, where + "schema version " + std::to_string(found) +
	              " is newer than this mxdelegate knows (" + std::to_string(schema_version) +
	              "); upgrade mxdelegate");
}

constexpr const char *lookup_sql =
	"SELECT server, client, client_extra, support, policy_server, max_age, note "
	"FROM domains WHERE domain = $1";
constexpr const char *list_sql =
	"SELECT domain, server, client, client_extra, support, policy_server, max_age, note "
	"FROM domains ORDER BY domain";

// Row `row` of `r`, its columns starting at `first`, as the JSON text
// lookup() hands out.  Checked again: rows may be written by hand.
std::string record_of(const Settings &s, const PGresult *r, int row, int first,
                      std::string_view domain)
{
	json out = json::object();
	auto bad = [&](const char *column, std::string_view why) {
		return Failure(MXD_ERROR, "postgres: " + s.target + ": " + printable(domain) + ": " +
		                              column + ": " + std::string(why));
	};
	static constexpr const char *names[] = {"server", "client", "client_extra", "support",
	                                        "policy_server", "max_age", "note"};
	for (int i = 0; i < 7; i++) {
		if (PQgetisnull(r, row, first + i))
			continue;
		const char *v = PQgetvalue(r, row, first + i);
		if (i >= 2 && i <= 4) {
			json j = json::parse(v, nullptr, false);
			if (!j.is_object())
				throw bad(names[i], "is not a JSON object");
			out[names[i]] = std::move(j);
		} else if (i == 5) {
			std::int64_t n = 0;
			const auto [end, ec] = std::from_chars(v, v + std::strlen(v), n);
			if (ec != std::errc() || *end)
				throw bad(names[i], "is not an integer");
			out[names[i]] = n;
		} else {
			out[names[i]] = v;
		}
	}
	return out.dump();
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
	std::unique_ptr<std::string> fields[7];
	std::size_t bytes;

	Row(std::string d, const json &record) : domain(std::move(d)), bytes(domain.size())
	{
		int i = 0;
		for (const char *k : {"server", "client", "client_extra", "support", "policy_server",
		                      "max_age", "note"}) {
			if (auto it = record.find(k); it != record.end()) {
				fields[i] = std::make_unique<std::string>(it->is_string() ? it->get<std::string>()
				                                                          : it->dump());
				bytes += fields[i]->size();
			}
			i++;
		}
	}
};

// The admin tool's connection: one thread, blocking calls.
class Writer {
public:
	explicit Writer(const Settings &s) : s_(s), c_(connect(s, true))
	{
		if (s_.access == Access::create)
			migrate();
		else
			require_version(s_, version_of(s_, c_.get()));
		prepare("lookup", lookup_sql);
		prepare("remove", "DELETE FROM domains WHERE domain = $1");
		run(s_, c_.get(),
		    "CREATE TEMP TABLE mxd_incoming (domain text, server text, client text, "
		    "client_extra text, support text, policy_server text, max_age bigint, note text)",
		    "creating the import table");
	}

	// MXD_OK with *out set, or MXD_NOT_FOUND.
	int lookup(const char *domain, std::string &out)
	{
		flush();
		const char *params[] = {domain};
		Result r(PQexecPrepared(c_.get(), "lookup", 1, params, nullptr, nullptr, 0));
		if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
			raise(s_, c_.get(), r.get(), "lookup");
		if (PQntuples(r.get()) == 0)
			return MXD_NOT_FOUND;
		out = record_of(s_, r.get(), 0, 0, domain);
		return MXD_OK;
	}

	void list(int (*each)(void *, const char *, const char *), void *ctx)
	{
		flush();
		list_rows(s_, c_.get(), each, ctx);
	}

	void put(std::string domain, const json &record)
	{
		Row row(std::move(domain), record);
		// A replaced row still counts: the figure only decides when to send.
		pending_bytes_ += row.bytes;
		if (auto it = index_.find(row.domain); it != index_.end()) {
			pending_[it->second] = std::move(row);
		} else {
			index_.emplace(row.domain, pending_.size());
			pending_.push_back(std::move(row));
		}
		if (!in_tx_) {
			// One statement on its own: its own transaction.
			begin_tx();
			try {
				flush();
				commit_tx();
			} catch (...) {
				rollback_tx();
				throw;
			}
		} else if (pending_.size() >= copy_batch || pending_bytes_ >= copy_bytes) {
			flush();
		}
	}

	bool remove(const char *domain)
	{
		flush();
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
			throw Failure(MXD_ERROR, "postgres: " + s_.target + ": commit: the transaction "
			                         "was rolled back");
	}

	void rollback_tx()
	{
		pending_.clear();
		index_.clear();
		pending_bytes_ = 0;
		in_tx_ = false;
		if (PQtransactionStatus(c_.get()) != PQTRANS_IDLE)
			run(s_, c_.get(), "ROLLBACK", "rollback");
	}

	static void list_rows(const Settings &s, PGconn *c,
	                      int (*each)(void *, const char *, const char *), void *ctx)
	{
		// One row at a time: a million domains are not held in memory.
		if (!PQsendQuery(c, list_sql) || !PQsetSingleRowMode(c))
			raise(s, c, nullptr, "list");
		bool stopped = false;
		std::string error;
		int error_status = MXD_ERROR;
		// Every result is read, even after each() stopped or a row was
		// bad, so that the connection is ready for the next statement.
		while (Result r{PQgetResult(c)}) {
			const auto st = PQresultStatus(r.get());
			if (st == PGRES_SINGLE_TUPLE && !stopped && error.empty()) {
				const char *domain = PQgetvalue(r.get(), 0, 0);
				try {
					const std::string record = record_of(s, r.get(), 0, 1, domain);
					stopped = each(ctx, domain, record.c_str()) != 0;
				} catch (const Failure &e) {
					error = e.what();
					error_status = e.status();
				}
			} else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && error.empty()) {
				try {
					raise(s, c, r.get(), "list");
				} catch (const Failure &e) {
					error = e.what();
					error_status = e.status();
				}
			}
		}
		if (!error.empty())
			throw Failure(error_status, error);
	}

private:
	void prepare(const char *name, const char *sql)
	{
		Result r(PQprepare(c_.get(), name, sql, 0, nullptr));
		if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
			raise(s_, c_.get(), r.get(), "preparing a statement");
	}

	// The buffered rows: COPY into the session's import table, then one
	// upsert from it.
	void flush()
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
		// In pieces: PQputCopyData takes an int length.
		constexpr std::size_t piece = 1 << 20;
		for (std::size_t at = 0; at < data.size(); at += piece) {
			const std::size_t n = std::min(piece, data.size() - at);
			if (PQputCopyData(c_.get(), data.data() + at, static_cast<int>(n)) != 1)
				raise(s_, c_.get(), nullptr, "import");
		}
		if (PQputCopyEnd(c_.get(), nullptr) != 1)
			raise(s_, c_.get(), nullptr, "import");
		for (Result r{PQgetResult(c_.get())}; r; r.reset(PQgetResult(c_.get())))
			if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
				raise(s_, c_.get(), r.get(), "import");
		run(s_, c_.get(),
		    "INSERT INTO domains AS d (domain, server, client, client_extra, support, "
		    "policy_server, max_age, note) "
		    "SELECT domain, server, client, client_extra, support, policy_server, max_age, note "
		    "FROM mxd_incoming "
		    "ON CONFLICT (domain) DO UPDATE SET server = excluded.server, "
		    "client = excluded.client, client_extra = excluded.client_extra, "
		    "support = excluded.support, policy_server = excluded.policy_server, "
		    "max_age = excluded.max_age, note = excluded.note, updated = now() "
		    // An unchanged record keeps its time of last change.
		    "WHERE (d.server, d.client, d.client_extra, d.support, d.policy_server, d.max_age, "
		    "d.note) IS DISTINCT FROM (excluded.server, excluded.client, excluded.client_extra, "
		    "excluded.support, excluded.policy_server, excluded.max_age, excluded.note)",
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
			if (found > schema_version)
				throw Failure(MXD_ERROR, "postgres: " + s_.target + ": schema version " +
				              std::to_string(found) + " is newer than this mxdelegatectl knows (" +
				              std::to_string(schema_version) + "); use a newer mxdelegatectl");
			if (found == 0) {
				Result r = run(s_, c_.get(), "SELECT to_regclass('domains') IS NOT NULL", "init",
				               PGRES_TUPLES_OK);
				if (std::string_view(PQgetvalue(r.get(), 0, 0)) == "t")
					throw Failure(MXD_ERROR, "postgres: " + s_.target + ": holds a table "
					              "\"domains\" and no mxdelegate schema; refusing to add one");
				run(s_, c_.get(), schema_sql, "init: creating the schema");
			}
			// Migrations from version N to N+1 go here as versions appear.
			if (const int now = version_of(s_, c_.get()); now != schema_version)
				throw Failure(MXD_ERROR, "postgres: the embedded schema.sql set schema_version " +
				              std::to_string(now) + ", expected " + std::to_string(schema_version));
			if (found != schema_version)
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
};

// One read connection and its prepared lookup, used by one thread at a time.
struct Reader {
	Conn c;
	std::uint64_t epoch;

	Reader(const Settings &s, std::uint64_t e) : c(connect(s, false)), epoch(e)
	{
		// Belt and braces: the responder never writes, whatever the role may.
		run(s, c.get(), "SET default_transaction_read_only = on", "connecting");
		require_version(s, version_of(s, c.get()));
		Result r(PQprepare(c.get(), "lookup", lookup_sql, 0, nullptr));
		if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK)
			raise(s, c.get(), r.get(), "preparing the lookup");
	}
};

class Handle {
public:
	Handle(Settings s, const mxd_host *host)
	    : s_(std::move(s)), host_(host ? *host : mxd_host{nullptr, nullptr})
	{
		if (s_.access != Access::read)
			writer_ = std::make_unique<Writer>(s_);
	}

	~Handle() = default;
	Handle(const Handle &) = delete;
	Handle &operator=(const Handle &) = delete;

	const Settings &settings() const { return s_; }
	Writer *writer() { return writer_.get(); }

	int lookup(const char *domain, std::string &out)
	{
		if (writer_)
			return writer_->lookup(domain, out);
		// A pooled connection may have died with a server restart that
		// nobody noticed yet: one more try on a new connection then.
		for (int attempt = 0;; attempt++) {
			auto [reader, reused] = acquire();
			const char *params[] = {domain};
			Result r(PQexecPrepared(reader->c.get(), "lookup", 1, params, nullptr, nullptr, 0));
			if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
				const int rc = PQntuples(r.get()) == 0 ? MXD_NOT_FOUND : MXD_OK;
				if (rc == MXD_OK)
					out = record_of(s_, r.get(), 0, 0, domain);
				release(std::move(reader));
				return rc;
			}
			const bool dead = lost(reader->c.get());
			try {
				raise(s_, reader->c.get(), r.get(), "lookup");
			} catch (const Failure &e) {
				// The connection is dropped either way: a statement that
				// fails on a live one (a table changed by a migration) may
				// fail the same way until it is prepared anew.
				retire();
				if (dead && reused && attempt == 0)
					continue;
				note_failure(e.what());
				throw;
			}
		}
	}

	void list(int (*each)(void *, const char *, const char *), void *ctx)
	{
		if (writer_)
			return writer_->list(each, ctx);
		auto reader = acquire().first;
		try {
			Writer::list_rows(s_, reader->c.get(), each, ctx);
		} catch (const Failure &) {
			if (lost(reader->c.get()))
				retire();
			else
				release(std::move(reader));
			throw;
		}
		release(std::move(reader));
	}

	// MXD_OK with *out, or MXD_ERROR with *message while the notification
	// connection is down: nothing tells this responder of changes then.
	int generation(std::uint64_t &out, std::string &message)
	{
		if (writer_) { // the admin tool has nothing cached
			out = 1;
			return MXD_OK;
		}
		{
			// The first call comes while the responder starts (or only
			// checks its configuration): nothing is cached yet, so it need
			// not wait for the network, and a server that is away is no
			// reason not to start (lookups answer 503 until it is back), as
			// a missing file is none for the SQLite store.  The connection
			// is made at the next call.
			std::lock_guard lock(state_);
			if (!asked_) {
				asked_ = true;
				out = generation_.load();
				return MXD_OK;
			}
		}
		// Another thread is driving the connection: its answer is ours.
		if (std::unique_lock lock(listen_, std::try_to_lock); lock.owns_lock())
			drive();
		std::lock_guard lock(state_);
		out = generation_.load();
		if (!listen_failing_)
			return MXD_OK;
		message = listen_why_;
		return MXD_ERROR;
	}

private:
	using ReaderPtr = std::unique_ptr<Reader>;

	// A connection from the pool (reused = true), or a new one; throws at
	// once while the server is known to be down and the backoff runs.
	std::pair<ReaderPtr, bool> acquire()
	{
		const std::uint64_t epoch = epoch_.load();
		{
			std::lock_guard lock(pool_);
			while (!idle_.empty()) {
				ReaderPtr r = std::move(idle_.back());
				idle_.pop_back();
				if (r->epoch == epoch && !lost(r->c.get()))
					return {std::move(r), true};
			}
		}
		{
			std::lock_guard lock(state_);
			if (failing_) {
				if (Clock::now() < retry_at_)
					throw Failure(MXD_ERROR, failure_);
				// This lookup tries; the others keep failing fast meanwhile.
				retry_at_ = Clock::now() + backoff_;
			}
		}
		try {
			auto r = std::make_unique<Reader>(s_, epoch);
			recovered();
			return {std::move(r), false};
		} catch (const Failure &e) {
			note_failure(e.what());
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

	// Every pooled connection is dropped: after a failure they are suspect.
	void retire()
	{
		epoch_.fetch_add(1);
		std::vector<ReaderPtr> old;
		std::lock_guard lock(pool_);
		old.swap(idle_);
	}

	void note_failure(const std::string &why)
	{
		std::lock_guard lock(state_);
		if (failing_)
			backoff_ = std::min(backoff_ * 2, max_backoff);
		else
			backoff_ = first_backoff;
		failing_ = true;
		failure_ = why;
		retry_at_ = Clock::now() + backoff_;
	}

	void recovered()
	{
		std::lock_guard lock(state_);
		failing_ = false;
		backoff_ = first_backoff;
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
			                     (listen_conn_ ? tidy(PQerrorMessage(listen_conn_.get()))
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
			listen_failed(tidy(PQerrorMessage(listen_conn_.get())));
			return false;
		}
		if (poll_ != PGRES_POLLING_OK)
			return true;
		if (!PQsendQuery(listen_conn_.get(), "LISTEN mxdelegate")) {
			listen_failed(tidy(PQerrorMessage(listen_conn_.get())));
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
				listen_failed(tidy(PQerrorMessage(c)));
				return false;
			}
		}
		bool ok = true;
		std::string why;
		while (Result r{PQgetResult(c)}) {
			if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
				ok = false;
				why = tidy(PQresultErrorMessage(r.get()));
			}
		}
		if (!ok) {
			listen_failed("LISTEN: " + why);
			return false;
		}
		phase_ = Phase::listening;
		listen_backoff_ = first_backoff;
		// Whatever changed while nobody listened is unknown: everything
		// cached goes, once.  The lookups may try the server again at once.
		generation_.fetch_add(1);
		bool was_failing;
		{
			std::lock_guard lock(state_);
			was_failing = listen_failing_;
			listen_failing_ = false;
			failing_ = false;
			backoff_ = first_backoff;
		}
		if (was_failing)
			log(MXD_LOG_INFO, "postgres: " + s_.target + ": notifications work again; "
			                  "cached answers dropped once, serving from the database");
		return true;
	}

	void drain()
	{
		PGconn *c = listen_conn_.get();
		if (!PQconsumeInput(c) || lost(c))
			return listen_failed("notification connection lost: " + tidy(PQerrorMessage(c)));
		bool any = false;
		while (PGnotify *n = PQnotifies(c)) {
			any = true;
			PQfreemem(n);
		}
		if (any)
			generation_.fetch_add(1);
	}

	void listen_failed(const std::string &why)
	{
		const bool was_listening = phase_ == Phase::listening;
		listen_conn_.reset();
		phase_ = Phase::idle;
		listen_retry_at_ = Clock::now() + listen_backoff_;
		listen_backoff_ = std::min(listen_backoff_ * 2, max_backoff);
		const std::string message = "postgres: " + s_.target + ": " + why;
		bool first;
		{
			std::lock_guard lock(state_);
			first = !listen_failing_;
			listen_failing_ = true;
			listen_why_ = message;
		}
		if (was_listening)
			retire(); // the pool's connections went the same way, most likely
		if (first)
			log(MXD_LOG_ERR, message + "; serving cached answers, 503 for the rest, until "
			                           "the database is back");
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

	// Failure states of the lookups and of the notification connection.
	std::mutex state_;
	bool failing_ = false;
	std::string failure_;
	Clock::time_point retry_at_;
	std::chrono::milliseconds backoff_ = first_backoff;
	bool listen_failing_ = false;
	std::string listen_why_;
	bool asked_ = false;

	// The notification connection; guarded by listen_.
	enum class Phase { idle, connecting, subscribing, listening };
	std::mutex listen_;
	Phase phase_ = Phase::idle;
	Conn listen_conn_;
	PostgresPollingStatusType poll_ = PGRES_POLLING_WRITING;
	Clock::time_point listen_started_;
	Clock::time_point listen_retry_at_;
	std::chrono::milliseconds listen_backoff_ = first_backoff;
	std::atomic<std::uint64_t> generation_{1};
};

using plugin::c_string;
using plugin::fail;

// Every entry point ends in this: no exception crosses into the core.
template <typename F>
int guarded(const char *what, char **error, F &&body) noexcept
{
	try {
		return body();
	} catch (const Failure &e) {
		return fail(error, e.status(), e.what());
	} catch (const plugin::Refused &e) {
		return fail(error, MXD_INVALID, e.what());
	} catch (const std::exception &e) {
		return fail(error, MXD_ERROR, std::string("postgres: ") + what + ": " + e.what());
	} catch (...) {
		return fail(error, MXD_ERROR, std::string("postgres: ") + what + ": unknown error");
	}
}

Writer &writer_of(void *handle, const char *what)
{
	auto *w = static_cast<Handle *>(handle)->writer();
	if (!w)
		throw Failure(MXD_ERROR, std::string("postgres: ") + what +
		                             ": the store was opened read-only (no \"access\")");
	return *w;
}

int plugin_open(const char *config_json, const mxd_host *host, void **handle, char **error)
{
	return guarded("open", error, [&]() -> int {
		if (!handle)
			return fail(error, MXD_ERROR, "postgres: open: null argument");
		*handle = new Handle(configure(config_json), host);
		return MXD_OK;
	});
}

int plugin_lookup(void *handle, const char *domain, char **record_json, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("lookup", error, [&]() -> int {
		if (!h || !domain || !record_json)
			return fail(error, MXD_ERROR, "postgres: lookup: null argument");
		std::string record;
		if (h->lookup(domain, record) != MXD_OK)
			return MXD_NOT_FOUND;
		char *s = c_string(record);
		if (!s)
			return fail(error, MXD_ERROR, "postgres: lookup: out of memory");
		*record_json = s;
		return MXD_OK;
	});
}

int plugin_generation(void *handle, std::uint64_t *generation, char **error)
{
	auto *h = static_cast<Handle *>(handle);
	return guarded("generation", error, [&]() -> int {
		if (!h || !generation)
			return fail(error, MXD_ERROR, "postgres: generation: null argument");
		std::string message;
		const int rc = h->generation(*generation, message);
		return rc == MXD_OK ? rc : fail(error, rc, message);
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
	return guarded("list", error, [&]() -> int {
		if (!h || !each)
			return fail(error, MXD_ERROR, "postgres: list: null argument");
		h->list(each, ctx);
		return MXD_OK;
	});
}

int plugin_put(void *handle, const char *domain, const char *record_json, char **error)
{
	return guarded("put", error, [&]() -> int {
		if (!handle || !domain || !record_json)
			return fail(error, MXD_ERROR, "postgres: put: null argument");
		Writer &w = writer_of(handle, "put");
		std::string key = domain;
		const json record = plugin::record_to_store(key, record_json);
		w.put(std::move(key), record);
		return MXD_OK;
	});
}

int plugin_remove(void *handle, const char *domain, char **error)
{
	return guarded("remove", error, [&]() -> int {
		if (!handle || !domain)
			return fail(error, MXD_ERROR, "postgres: remove: null argument");
		return writer_of(handle, "remove").remove(domain) ? MXD_OK : MXD_NOT_FOUND;
	});
}

int plugin_begin(void *handle, char **error)
{
	return guarded("begin", error, [&]() -> int {
		if (!handle)
			return fail(error, MXD_ERROR, "postgres: begin: null argument");
		writer_of(handle, "begin").begin_tx();
		return MXD_OK;
	});
}

int plugin_commit(void *handle, char **error)
{
	return guarded("commit", error, [&]() -> int {
		if (!handle)
			return fail(error, MXD_ERROR, "postgres: commit: null argument");
		writer_of(handle, "commit").commit_tx();
		return MXD_OK;
	});
}

int plugin_rollback(void *handle, char **error)
{
	return guarded("rollback", error, [&]() -> int {
		if (!handle)
			return fail(error, MXD_ERROR, "postgres: rollback: null argument");
		writer_of(handle, "rollback").rollback_tx();
		return MXD_OK;
	});
}

} // namespace
} // namespace mxd

extern "C" __attribute__((visibility("default"))) const struct mxd_backend mxd_backend = {
	MXD_BACKEND_ABI_MAJOR, MXD_BACKEND_ABI_MINOR, "postgres",
	mxd::plugin_open, mxd::plugin_lookup, mxd::plugin_generation, mxd::plugin_close,
	mxd::plugin_free_string,
	mxd::plugin_list, mxd::plugin_put, mxd::plugin_remove,
	mxd::plugin_begin, mxd::plugin_commit, mxd::plugin_rollback,
};
