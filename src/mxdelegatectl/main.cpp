// mxdelegatectl: manages the domains of a writable backend (the SQLite
// store), checks any configuration, and shows exactly what the responder
// would answer.  The backend is loaded through the responder's own loader and
// configuration; records are judged by the responder's own validation.
#include "service/backend.hpp"
#include "service/config.hpp"
#include "service/follow_status.hpp"
#include "mxdelegatectl/ctl_args.hpp"
#include "mxdelegatectl/ctl_fields.hpp"
#include "mxdelegatectl/ctl_format.hpp"
#include "mxdelegatectl/ctl_move.hpp"
#include "mxdelegatectl/ctl_probe.hpp"
#include "mxdelegatectl/ctl_status.hpp"
#include "core/host.hpp"
#include "core/install_paths.hpp"
#include "core/log.hpp"
#include "core/rendering.hpp"
#include "core/request.hpp"
#include "service/record_lints.hpp"
#include "service/responder.hpp"
#include "core/version.hpp"
#include "core/route.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/wait.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <vector>

namespace {

using namespace mxd;
using namespace mxd::ctl;
using json = nlohmann::json;
namespace fs = std::filesystem;

// An error that ends the command with its own exit code, for what none of
// the other errors covers.
class ExitError : public std::runtime_error {
public:
	ExitError(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
	int code() const { return code_; }

private:
	int code_;
};

std::string command_name = "mxdelegatectl";

// Each line of a message on stderr, prefixed with the program and command.
void report(const std::string &message)
{
	std::size_t start = 0;
	while (start <= message.size()) {
		std::size_t nl = message.find('\n', start);
		if (nl == std::string::npos)
			nl = message.size();
		if (nl > start)
			std::fprintf(stderr, "mxdelegatectl: %s: %.*s\n", command_name.c_str(),
			             static_cast<int>(nl - start), message.data() + start);
		start = nl + 1;
	}
}

void out(std::string_view s)
{
	std::fwrite(s.data(), 1, s.size(), stdout);
}

enum class Access { read, write, create };

Config plain_config(const Options &o)
{
	if (!o.db.empty()) {
		Config c;
		c.file = o.db;
		c.backend_name = "sqlite";
		c.plugin_dir = o.plugin_dir.empty() ? install_paths::plugin_dir : o.plugin_dir;
		std::error_code ec;
		const fs::path abs = fs::absolute(o.db, ec);
		c.backend = {{"path", (ec ? fs::path(o.db) : abs).lexically_normal().string()}};
		c.defaults = json::object();
		return c;
	}
	Config c = load_config(o.config.empty() ? default_config_path() : o.config);
	// The plugins' messages go through the log; the tool's own output and
	// problems are its answer to a person and stay text.
	log::set_format(c.log_format);
	if (!o.plugin_dir.empty())
		c.plugin_dir = o.plugin_dir;
	return c;
}

// With [follow], the PostgreSQL store the local copy follows, opened with
// the postgres plugin from the same plugin_dir and [follow] as its
// [backend]: a write into the copy would be the follower's to undo.
Config primary_config(const Config &c)
{
	Config p = c;
	p.backend_name = "postgres";
	p.backend = *c.follow;
	return p;
}

bool is_primary(const Config &c)
{
	return c.follow && c.backend_name == "postgres" && c.backend == *c.follow;
}

// "[follow] at mx.toml:5:1", for messages that name the primary before any
// connection to it: the conninfo itself may hold a password.
std::string follow_label(const Config &c)
{
	return "[follow] at " + c.follow_at;
}

// Which copy a read of a configuration with [follow] reads, and how far
// behind the primary it is, on stderr: the answer on stdout may be old.
void say_which_copy(const Config &c)
{
	namespace fst = follow_status;
	const std::string copy = copy_path(c);
	std::string line = "read from the local copy " + copy;
	try {
		const auto st = fst::read(copy);
		if (!st) {
			line += ": no follower has kept it yet (no " + fst::status_path(copy) + ")";
		} else {
			const bool running = fst::running(copy);
			line += " of " + (st->primary.empty() ? follow_label(c) : st->primary) + ": " +
			        fst::describe(*st, running, std::time(nullptr));
		}
	} catch (const fst::Error &e) {
		line += ": how far behind is unknown: " + std::string(e.what());
	}
	report(line);
}

// The configuration a command works on.  With [follow], writes go to the
// primary and reads to the local copy (saying so), or to the primary with
// --primary.
Config store_config(const Options &o, Access access = Access::read)
{
	Config c = plain_config(o);
	if (!c.follow) {
		if (o.primary)
			throw ExitError(exit_code::config, c.file + ": --primary: no [follow] table, so no "
			                                           "primary; this configuration's store is the only one");
		return c;
	}
	if (access != Access::read || o.primary) {
		if (access == Access::read)
			report("read from the primary, " + follow_label(c));
		return primary_config(c);
	}
	say_which_copy(c);
	return c;
}

std::shared_ptr<const Plugin> load_plugin(const Config &c)
{
	try {
		return Plugin::load(plugin_path(c.plugin_dir, c.backend_name));
	} catch (const BackendError &e) {
		throw ExitError(exit_code::config, e.what());
	}
}

std::shared_ptr<Backend> open_store(const Config &c, Access access)
{
	auto plugin = load_plugin(c);
	json config = c.backend;
	if (access != Access::read) {
		if (!plugin->writable())
			throw BackendError("backend \"" + std::string(plugin->table().name) + "\" (" +
			                   plugin->path() + ") is read-only: it has no write side "
			                   "(ABI 1.1 put, remove, list and transactions); manage its data "
			                   "in its own files, or use a writable backend such as sqlite",
			                   BackendError::Kind::unsupported);
		config["access"] = access == Access::create ? "create" : "write";
	}
	if (!is_primary(c))
		return Backend::open(std::move(plugin), config);
	try {
		return Backend::open(std::move(plugin), config);
	} catch (const BackendError &e) {
		// The plugin names the server; this says it is the [follow] one.
		throw BackendError("the primary, " + follow_label(c) + ": " + e.what(), e.kind());
	}
}

int exit_code_of(const BackendError &e, Command command)
{
	switch (e.kind()) {
	case BackendError::Kind::busy: return exit_code::temporary;
	case BackendError::Kind::invalid: return exit_code::data;
	case BackendError::Kind::no_store: return exit_code::no_input;
	case BackendError::Kind::unsupported: return exit_code::unavailable;
	case BackendError::Kind::failed: break;
	}
	return command == Command::init ? exit_code::cant_create : exit_code::io;
}

// A write transaction with the signals that would end the program held
// back until it is over, so that an interrupt never leaves a hot journal
// that an unprivileged reader cannot roll back (postmap does the same).
class Transaction {
public:
	explicit Transaction(Backend &b) : b_(b)
	{
		sigset_t set;
		sigemptyset(&set);
		for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE})
			sigaddset(&set, s);
		sigprocmask(SIG_BLOCK, &set, &old_);
		try {
			b_.begin();
		} catch (...) {
			sigprocmask(SIG_SETMASK, &old_, nullptr);
			throw;
		}
		open_ = true;
	}
	~Transaction()
	{
		if (open_) {
			try {
				b_.rollback();
			} catch (const std::exception &e) {
				report(std::string("rollback failed: ") + e.what());
			}
		}
		sigprocmask(SIG_SETMASK, &old_, nullptr);
	}
	Transaction(const Transaction &) = delete;
	Transaction &operator=(const Transaction &) = delete;

	void commit()
	{
		b_.commit();
		open_ = false;
	}

private:
	Backend &b_;
	sigset_t old_;
	bool open_ = false;
};

json parse_record(std::string_view domain, std::string_view text)
{
	json r = json::parse(text, nullptr, false);
	if (!r.is_object())
		throw BackendError(std::string(domain) + ": the backend returned a record that is not "
		                                         "a JSON object");
	r.erase("domain");
	return r;
}

void require_valid(const json &record, const std::string &key, const json &defaults)
{
	const auto found = problems(record, key, defaults);
	if (found.empty())
		return;
	std::string text;
	for (const auto &p : found)
		text += (text.empty() ? "" : "\n") + p;
	throw DataError(text);
}

// Render on write (HACKING.md): the rendering of the record stored under
// key now, read back as the responder will read it, made under the
// fingerprint of this configuration's [defaults] and [http], and kept in
// the same transaction as the write.  Returns why none is kept (a wildcard
// key, or "domain: field: problem"); empty when one is, or when the store
// keeps none (a PostgreSQL store before schema 4 cannot be written, so
// only third-party plugins without ABI 1.3).
// `forget`: drop a rendering kept before (a put() has already dropped it).
std::string keep_rendering(Backend &b, const std::string &key, const Config &c, bool forget)
{
	if (!b.keeps_renderings())
		return {};
	if (key.starts_with("*.")) // rendered per host when asked: prepare() says so
		return rendering::prepare(key, {}, c.defaults, c.http).skipped;
	const std::string fingerprint = rendering::fingerprint(c.defaults, c.http);
	const std::optional<std::string> text = b.lookup(key);
	if (!text)
		throw DataError(key + ": no such domain; it was removed while it was rendered");
	rendering::Outcome r = rendering::prepare(key, *text, c.defaults, c.http);
	if (r.bytes || forget)
		b.store_rendered(key, fingerprint, r.bytes);
	return r.skipped;
}

// What a pass over every record did: rendered, and the others with why.
struct RenderPass {
	std::size_t rendered = 0, wildcards = 0;
	std::vector<std::string> refused;
};

// Renders every exact key's record (`all`), or those the store keeps no
// rendering of under this configuration's fingerprint (after a migration),
// inside the caller's transaction.
RenderPass render_records(Backend &b, const Config &c, bool all)
{
	RenderPass pass;
	std::vector<std::string> keys; // names only: a million records stay in the store
	b.list([&](std::string_view domain, std::string_view) {
		keys.emplace_back(domain);
		return true;
	});
	const std::string fingerprint = rendering::fingerprint(c.defaults, c.http);
	for (const std::string &key : keys) {
		if (key.starts_with("*.")) {
			pass.wildcards++;
			continue;
		}
		if (!all && b.lookup_rendered(key, fingerprint).kind != Backend::Stored::record)
			continue;
		if (std::string why = keep_rendering(b, key, c, all); why.empty())
			pass.rendered++;
		else
			pass.refused.push_back(std::move(why));
	}
	return pass;
}

int cmd_init(const Options &o)
{
	const Config c = store_config(o, Access::create);
	auto b = open_store(c, Access::create);
	if (!b->keeps_renderings())
		return exit_code::ok;
	// A store just migrated holds records without renderings: they are
	// served all the same (the full path), only slower until rendered.
	Transaction tx(*b);
	const RenderPass pass = render_records(*b, c, /*all=*/false);
	tx.commit();
	if (pass.rendered || !pass.refused.empty())
		out("init: " + std::to_string(pass.rendered) + " records rendered, " +
		    std::to_string(pass.refused.size()) +
		    " refused with [defaults] (\"mxdelegatectl render\" names them)\n");
	return exit_code::ok;
}

int cmd_render(const Options &o)
{
	const Config c = store_config(o, Access::write);
	auto b = open_store(c, Access::write);
	if (!b->keeps_renderings())
		throw BackendError("backend \"" + std::string(b->plugin().table().name) + "\" (" +
		                   b->plugin().path() + ") keeps no renderings (ABI 1.3 lookup_rendered "
		                   "and store_rendered): its records are rendered when asked, as "
		                   "before; nothing to do",
		                   BackendError::Kind::unsupported);
	Transaction tx(*b);
	const RenderPass pass = render_records(*b, c, /*all=*/true);
	tx.commit();
	std::string text = "render: " + std::to_string(pass.rendered) + " rendered, " +
	                   std::to_string(pass.wildcards) +
	                   " wildcard keys (rendered per host when asked), " +
	                   std::to_string(pass.refused.size()) + " refused\n";
	for (const std::string &why : pass.refused)
		text += "render: refused: " + why + "\n";
	out(text);
	// A refused record answers 500 until it is fixed: as check says it.
	return pass.refused.empty() ? exit_code::ok : exit_code::problems;
}

int cmd_add(const Options &o)
{
	const std::string key = domain_key(o.operands[0]);
	const Config c = store_config(o, Access::write);
	const json record = apply(json::object(), o.fields);
	require_valid(record, key, c.defaults);
	auto b = open_store(c, Access::write);
	Transaction tx(*b);
	if (b->lookup(key))
		throw DataError(key + ": already exists; \"set\" changes it");
	b->put(key, record.dump());
	keep_rendering(*b, key, c, false);
	tx.commit();
	return exit_code::ok;
}

int cmd_set(const Options &o)
{
	const std::string key = domain_key(o.operands[0]);
	const Config c = store_config(o, Access::write);
	// The options' own mistakes are found before the store is touched.
	apply(json::object(), o.fields);
	auto b = open_store(c, Access::write);
	Transaction tx(*b);
	const auto stored = b->lookup(key);
	if (!stored)
		throw DataError(key + ": no such domain; \"add\" adds it");
	const json record = apply(parse_record(key, *stored), o.fields);
	require_valid(record, key, c.defaults);
	b->put(key, record.dump());
	keep_rendering(*b, key, c, false);
	tx.commit();
	return exit_code::ok;
}

int cmd_remove(const Options &o)
{
	std::vector<std::string> keys;
	std::set<std::string> seen;
	for (const auto &d : o.operands)
		if (std::string k = domain_key(d); seen.insert(k).second)
			keys.push_back(std::move(k));
	auto b = open_store(store_config(o, Access::write), Access::write);
	Transaction tx(*b);
	for (const auto &k : keys)
		if (!b->remove(k))
			throw DataError(k + ": no such domain; nothing was removed");
	tx.commit();
	return exit_code::ok;
}

int cmd_show(const Options &o)
{
	const std::string key = domain_key(o.operands[0]);
	auto b = open_store(store_config(o), Access::read);
	const auto stored = b->lookup(key);
	if (!stored)
		throw DataError(key + ": no such domain");
	out(json_line(key, parse_record(key, *stored)) + "\n");
	return exit_code::ok;
}

int cmd_list(const Options &o)
{
	auto b = open_store(store_config(o), Access::read);
	std::string line;
	b->list([&](std::string_view domain, std::string_view record) {
		const std::string d(domain);
		if (!o.match.empty() && fnmatch(o.match.c_str(), d.c_str(), 0) != 0)
			return true;
		line = o.json ? json_line(d, parse_record(d, record)) : d;
		line += '\n';
		out(line);
		return true;
	});
	return exit_code::ok;
}

int cmd_export(const Options &o)
{
	auto b = open_store(store_config(o), Access::read);
	const bool toml = o.format == "toml";
	std::string text;
	b->list([&](std::string_view domain, std::string_view record) {
		const std::string d(domain);
		const json r = parse_record(d, record);
		text = toml ? toml_table(d, r) : json_line(d, r) + "\n";
		out(text);
		return true;
	});
	return exit_code::ok;
}

std::string read_input(const std::string &file)
{
	std::ostringstream text;
	if (file == "-") {
		text << std::cin.rdbuf();
		if (std::cin.bad())
			throw ExitError(exit_code::io, "standard input: read error");
		return text.str();
	}
	std::error_code ec;
	if (fs::is_directory(file, ec))
		throw ExitError(exit_code::no_input, file + ": is a directory");
	std::ifstream in(file, std::ios::binary);
	if (!in)
		throw ExitError(errno == ENOENT || errno == EACCES ? exit_code::no_input : exit_code::io,
		              file + ": " + std::generic_category().message(errno));
	text << in.rdbuf();
	if (in.bad())
		throw ExitError(exit_code::io, file + ": read error");
	return text.str();
}

int cmd_import(const Options &o)
{
	const std::string &file = o.operands[0];
	const std::string text = read_input(file);
	const Config c = store_config(o, Access::write);
	const std::string name = file == "-" ? "(stdin)" : file;
	Read parsed = read_import(text, name, c.defaults);
	if (!parsed.problems.empty()) {
		std::string all;
		for (const auto &p : parsed.problems)
			all += (all.empty() ? "" : "\n") + p;
		throw DataError(all + "\n" + name + ": " + std::to_string(parsed.problems.size()) +
		                (parsed.problems.size() == 1 ? " problem" : " problems") +
		                "; nothing was imported");
	}
	if (o.dry_run) {
		out("import: " + name + ": " + std::to_string(parsed.entries.size()) +
		    " records, all valid; dry run, nothing written\n");
		return exit_code::ok;
	}
	auto b = open_store(c, Access::write);
	Transaction tx(*b);
	std::unordered_set<std::string> stored;
	b->list([&](std::string_view domain, std::string_view) {
		stored.emplace(domain);
		return true;
	});
	std::size_t added = 0, replaced = 0, removed = 0;
	for (const Entry &e : parsed.entries) {
		try {
			b->put(e.domain, e.record);
		} catch (const BackendError &err) {
			if (err.kind() == BackendError::Kind::invalid)
				throw DataError(e.where + ": " + err.what() + "\nnothing was imported");
			throw;
		}
		(stored.count(e.domain) ? replaced : added)++;
		// Right after its put: a store that buffers puts (PostgreSQL's
		// COPY) reads the record back from its buffer, not from the server.
		keep_rendering(*b, e.domain, c, false);
	}
	if (o.replace) {
		std::unordered_set<std::string> keep;
		keep.reserve(parsed.entries.size());
		for (const Entry &e : parsed.entries)
			keep.insert(e.domain);
		std::vector<std::string> gone;
		for (const auto &d : stored)
			if (!keep.count(d))
				gone.push_back(d);
		for (const auto &d : gone)
			removed += b->remove(d) ? 1 : 0;
	}
	tx.commit();
	out("import: " + name + ": " + std::to_string(added) + " added, " + std::to_string(replaced) +
	    " replaced, " + std::to_string(removed) + " removed\n");
	return exit_code::ok;
}

// Warnings (core/lint) after the problems: printed, and failing only with
// --strict, since a record they name is served as it is.
int warned(const Options &o, const Config &c, const Backend &b, int code)
{
	std::vector<std::string> warnings;
	try {
		warnings = record_warnings(c, b);
	} catch (const std::exception &e) {
		report(e.what());
		return exit_code::problems;
	}
	for (const auto &w : warnings)
		report("warning: " + w);
	if (code == exit_code::ok && !warnings.empty()) {
		out("check: " + std::to_string(warnings.size()) +
		    (warnings.size() == 1 ? " warning" : " warnings") +
		    (o.strict ? ", failing as --strict asks\n" : "\n"));
		if (o.strict)
			return exit_code::warnings;
	}
	return code;
}

int cmd_check(const Options &o)
{
	Config c;
	std::shared_ptr<Backend> b;
	try {
		c = store_config(o);
		b = open_store(c, Access::read);
	} catch (const std::exception &e) {
		report(e.what());
		return exit_code::problems;
	}
	if (!b->can_list()) {
		out("check: " + c.file + ": no problems; backend \"" + b->plugin().table().name +
		    "\" checked every record when it opened\n");
		return warned(o, c, *b, exit_code::ok);
	}
	std::size_t count = 0, bad = 0;
	try {
		b->list([&](std::string_view domain, std::string_view text) {
			const std::string d(domain);
			count++;
			std::vector<std::string> found;
			std::string key;
			try {
				key = domain_key(d);
			} catch (const DataError &e) {
				found.push_back(e.what());
			}
			if (found.empty() && key != d)
				found.push_back(d + ": domain: stored as it is never looked up; the canonical "
				                    "form is " + key);
			json r = json::parse(text, nullptr, false);
			if (!r.is_object()) {
				found.push_back(d + ": the record is not a JSON object");
			} else {
				r.erase("domain");
				for (auto &p : problems(r, d, c.defaults))
					found.push_back(std::move(p));
			}
			for (const auto &p : found)
				report(p);
			bad += found.empty() ? 0 : 1;
			return true;
		});
	} catch (const std::exception &e) {
		report(e.what());
		return exit_code::problems;
	}
	const std::string domains = std::to_string(count) + (count == 1 ? " domain" : " domains");
	if (bad) {
		out("check: " + domains + ", " + std::to_string(bad) + " with problems\n");
		return warned(o, c, *b, exit_code::problems);
	}
	out("check: " + domains + ", no problems\n");
	return warned(o, c, *b, exit_code::ok);
}

// One step of a move: the record read again (it may have been edited
// meanwhile), changed, checked and written in a transaction of its own.
template <class Change>
void move_step(Backend &b, const std::string &key, const Config &c, Change change)
{
	Transaction tx(b);
	const auto stored = b.lookup(key);
	if (!stored)
		throw DataError(key + ": no such domain; it was removed during the move");
	json record = parse_record(key, *stored);
	change(record);
	require_valid(record, key, c.defaults);
	b.put(key, record.dump());
	keep_rendering(b, key, c, false);
	tx.commit();
}

void sleep_until(std::int64_t t)
{
	std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::seconds(t)));
}

std::int64_t now_seconds()
{
	return std::chrono::duration_cast<std::chrono::seconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}

int cmd_move(const Options &o)
{
	const std::string key = domain_key(o.operands[0]);
	const Config c = store_config(o, Access::write);
	apply(json::object(), o.fields); // the options' own mistakes first
	std::int64_t low = 0;
	{
		const char *end = o.low.data() + o.low.size();
		const auto [ptr, ec] = std::from_chars(o.low.data(), end, low);
		if (o.low.empty() || ec != std::errc() || ptr != end || low < 0 || low > 604800)
			throw DataError("--low: \"" + o.low + "\" is not a number of seconds from 0 to 604800");
	}
	std::int64_t at = 0;
	const std::int64_t now = now_seconds();
	try {
		at = move::parse_time(o.at, now);
	} catch (const std::invalid_argument &e) {
		throw UsageError(o.command_name + ": " + e.what());
	}
	auto b = open_store(c, Access::write);
	json before;
	{
		const auto stored = b->lookup(key);
		if (!stored)
			throw DataError(key + ": no such domain; \"add\" adds it");
		before = parse_record(key, *stored);
	}
	// The record as it will be after the switch, checked before anything
	// is written.
	require_valid(apply(before, o.fields), key, c.defaults);
	const auto old_age = before.find("max_age");
	const json kept = old_age == before.end() ? json() : *old_age;
	const std::int64_t served = kept.is_number_integer() ? kept.get<std::int64_t>()
	                                                      : static_cast<std::int64_t>(c.http.max_age);
	// Never a raise: a domain already served with a short max-age keeps it.
	low = std::min(low, served);
	move::Plan p;
	try {
		p = move::plan(now, at, served, low);
	} catch (const std::invalid_argument &e) {
		throw UsageError(o.command_name + ": " + e.what());
	}
	const std::string was = kept.is_null() ? "the configuration's " + std::to_string(served)
	                                       : std::to_string(served);
	out("move: " + key + ": max_age " + std::to_string(low) + " at " + move::format_time(p.lower_at) +
	    ", the change at " + move::format_time(p.switch_at) + ", max_age back to " + was + " at " +
	    move::format_time(p.restore_at) + "\n");
	if (p.lower_at > at - served)
		out("move: " + key + ": less than the old max_age (" + std::to_string(served) +
		    " s) ahead: a cache may keep the old answer until " + move::format_time(p.stale_until) +
		    "\n");
	std::fflush(stdout);

	sleep_until(p.lower_at);
	move_step(*b, key, c, [&](json &r) { r["max_age"] = low; });
	out("move: " + key + ": max_age " + std::to_string(low) + "\n");
	std::fflush(stdout);
	sleep_until(p.switch_at);
	move_step(*b, key, c, [&](json &r) {
		r = apply(std::move(r), o.fields);
		r["max_age"] = low;
	});
	out("move: " + key + ": changed\n");
	std::fflush(stdout);
	sleep_until(p.restore_at);
	move_step(*b, key, c, [&](json &r) {
		if (kept.is_null())
			r.erase("max_age");
		else
			r["max_age"] = kept;
	});
	out("move: " + key + ": max_age back to " + was + "; done\n");
	return exit_code::ok;
}

const char *map_param(const char *name, void *ctx)
{
	const auto &m = *static_cast<const std::map<std::string, std::string> *>(ctx);
	const auto it = m.find(name);
	return it == m.end() ? nullptr : it->second.c_str();
}

int cmd_query(const Options &o)
{
	std::string host;
	try {
		host = host::canonical_domain(o.operands[0], /*allow_wildcard=*/false);
	} catch (const std::invalid_argument &e) {
		throw DataError(o.operands[0] + ": domain: " + e.what());
	}
	const std::string &doc = o.operands[1];
	bool known = false;
	for (Document d : all_documents)
		known = known || document_name(d) == doc;
	if (!known)
		throw UsageError("query: unknown document \"" + doc +
		                 "\" (server, client, support, policy_server)");
	const Config c = store_config(o);
	// The very path a web server's request takes: parameters, request,
	// responder, directory, backend, render.
	std::map<std::string, std::string> params = {
		{"REQUEST_METHOD", "GET"},
		{"REQUEST_URI", "/.well-known/matrix/" + doc},
		{"HTTP_HOST", host},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
	};
	const Request request = parse_request(map_param, &params);
	std::unique_ptr<Responder> responder;
	try {
		responder = std::make_unique<Responder>(c);
	} catch (const BackendError &e) {
		throw ExitError(e.kind() == BackendError::Kind::failed ? exit_code::config
		                                                     : exit_code_of(e, Command::query),
		              e.what());
	}
	Reply reply;
	responder->answer(request, reply);
	out(reply.wire());
	// A redirect serves the document too, from elsewhere: a script asking
	// whether a domain is live should not fail on one.
	const bool served = reply.status == 200 || reply.status == 301 || reply.status == 302 ||
	                    reply.status == 307 || reply.status == 308;
	return served ? exit_code::ok : exit_code::problems;
}

// The configuration's [follow], or exit 78 naming the file.
Config follow_config(const Options &o, const char *what)
{
	Config c = plain_config(o);
	if (!c.follow)
		throw ExitError(exit_code::config, c.file + ": no [follow] table; " + what);
	return c;
}

// "key: value" lines, the keys aligned; other parts of the node (the
// responder's figures, issue 18) add their rows to the same list.
void print_rows(const std::vector<std::pair<std::string, std::string>> &rows)
{
	std::size_t width = 0;
	for (const auto &r : rows)
		width = std::max(width, r.first.size());
	for (const auto &[k, v] : rows)
		out(k + ":" + std::string(width - k.size() + 1, ' ') + log::one_line(v) + "\n");
}

// The local copy's state: 0 when a follower runs and the copy is in step,
// 1 otherwise, so that a monitoring check needs no parsing.
int cmd_status(const Options &o)
{
	namespace fst = follow_status;
	const Config c = plain_config(o);
	if (!c.follow && c.status_listen.empty())
		throw ExitError(exit_code::config,
		                c.file + ": no [follow] table; status reports on a local copy kept by "
		                         "\"mxdelegatectl follow\", and on the responder through "
		                         "[status] listen");
	std::vector<std::pair<std::string, std::string>> rows;
	bool responder_ok = true;
	if (!c.status_listen.empty()) {
		// The responder's own figures, from its listener: the admin tool
		// has no FastCGI client, and a scrape there is what Prometheus
		// sees.
		rows.emplace_back("responder", ctl_status::url_of(c.status_listen));
		try {
			const auto samples =
				ctl_status::parse(ctl_status::fetch(c.status_listen, std::chrono::seconds(5)));
			for (auto &row : ctl_status::summary(samples, std::time(nullptr)))
				rows.push_back(std::move(row));
			responder_ok = !ctl_status::troubled(samples);
		} catch (const std::exception &e) {
			rows.emplace_back("state", std::string("unreachable: ") + e.what());
			responder_ok = false;
		}
	}
	if (!c.follow) {
		print_rows(rows);
		return responder_ok ? exit_code::ok : exit_code::problems;
	}
	const std::string copy = copy_path(c);
	rows.emplace_back("copy", copy);
	pid_t pid = 0;
	const bool running = fst::running(copy, &pid);
	std::optional<fst::Status> st;
	std::string unreadable;
	try {
		st = fst::read(copy);
	} catch (const fst::Error &e) {
		unreadable = e.what();
	}
	bool in_step = false;
	if (!unreadable.empty()) {
		rows.emplace_back("primary", follow_label(c));
		rows.emplace_back("state", "unknown: " + unreadable);
	} else if (st) {
		rows.emplace_back("primary", st->primary.empty() ? follow_label(c) : st->primary);
		rows.emplace_back("state", std::string(fst::name(st->state)) + " since " +
		                               fst::format_time(st->since));
		rows.emplace_back("change", std::to_string(st->seq));
		rows.emplace_back("in step", st->in_step ? fst::format_time(*st->in_step) : "never");
		rows.emplace_back("lag", fst::describe(*st, running, std::time(nullptr)));
		if (!st->error.empty())
			rows.emplace_back("error", st->error);
		in_step = running && fst::lag(*st, running, std::time(nullptr)) == std::optional<std::int64_t>(0);
	} else {
		rows.emplace_back("primary", follow_label(c));
		rows.emplace_back("state", "none: no follower has kept this copy yet (no " +
		                               fst::status_path(copy) + ")");
	}
	rows.emplace_back("follower", running ? (pid ? "pid " + std::to_string(pid) : "running")
	                                      : "no follower running");
	print_rows(rows);
	return in_step && responder_ok ? exit_code::ok : exit_code::problems;
}

// A program of mxdelegate's own that a command runs: beside this program
// (a build tree), else the installed one; 69 naming both when neither is
// there.
std::string helper_program(const std::string &name, const std::string &comes_with)
{
	std::string self;
	char buf[PATH_MAX];
	if (const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1); n > 0)
		self.assign(buf, static_cast<std::size_t>(n));
	const std::string beside = self.empty() ? "" : (fs::path(self).parent_path() / name).string();
	const std::string installed = std::string(install_paths::libexec_dir) + "/" + name;
	for (const std::string &p : {beside, installed})
		if (!p.empty() && ::access(p.c_str(), X_OK) == 0)
			return p;
	throw ExitError(exit_code::unavailable,
	                installed + ": not installed" + (beside.empty() ? "" : " (nor " + beside + ")") + "; " +
	                    comes_with);
}

// Runs the follower in this process (exec: the same pid, as systemd's
// Type=notify unit expects): mxdelegate-follow beside this program (a build
// tree), else the installed one.  mxdelegatectl itself never links libpq;
// the follower comes with the PostgreSQL support.
int cmd_follow(const Options &o)
{
	const std::string file = o.config.empty() ? default_config_path() : o.config;
	follow_config(o, "\"mxdelegatectl follow\" keeps the [backend] sqlite store a copy of the "
	                 "PostgreSQL store that [follow] names");
	const std::string program =
		helper_program("mxdelegate-follow", "the follower comes with mxdelegate's PostgreSQL support");
	std::vector<std::string> args = {program, "-c", file};
	args.insert(args.end(), o.operands.begin(), o.operands.end());
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	std::fflush(stdout);
	::execv(program.c_str(), argv.data());
	throw ExitError(exit_code::unavailable, program + ": cannot run it: " + std::strerror(errno));
}

// The exit status of a child, as this program's: its code, or 70 for a
// signal (a crash is a bug).
int child_status(pid_t pid, const std::string &program)
{
	int st = 0;
	while (::waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			throw ExitError(exit_code::software, program + ": wait: " + std::strerror(errno));
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	report(program + ": killed by signal " + std::to_string(WTERMSIG(st)));
	return exit_code::software;
}

// argv, with standard input from `in` when it is not -1.
pid_t spawn(const std::vector<std::string> &args, int in, int close_in_child)
{
	std::vector<char *> argv;
	for (const auto &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	std::fflush(stdout);
	std::fflush(stderr);
	const pid_t pid = ::fork();
	if (pid < 0)
		throw ExitError(exit_code::software, "fork: " + std::string(std::strerror(errno)));
	if (pid == 0) {
		if (in >= 0) {
			::dup2(in, 0);
			::close(in);
		}
		if (close_in_child >= 0)
			::close(close_in_child);
		::signal(SIGPIPE, SIG_DFL);
		::execv(argv[0], argv.data());
		std::fprintf(stderr, "mxdelegatectl: probe: %s: cannot run it: %s\n", argv[0], std::strerror(errno));
		::_exit(exit_code::unavailable);
	}
	return pid;
}

// Fetches each document as the world's consumers do (mxdelegate-probe, so
// that this program never links libcurl) and compares it with what the
// responder answers here.  This side reads the store and answers as query
// does; the child fetches and reports.  Exit: the child's (0 all ok, 1 any
// not), or this program's for usage and store errors, before any fetch.
int cmd_probe(const Options &o)
{
	const std::string program =
		helper_program("mxdelegate-probe", "the probe comes with mxdelegate's libcurl support");
	std::vector<std::string> args = {program};
	args.insert(args.end(), o.probe_args.begin(), o.probe_args.end());
	{
		// The options judged first, so that a usage error reads no store.
		std::vector<std::string> check = args;
		check.push_back("--check-options");
		const int code = child_status(spawn(check, -1, -1), program);
		if (code != 0)
			return code;
	}
	const Config c = store_config(o);
	std::vector<std::string> names;
	if (!o.operands.empty()) {
		for (const std::string &d : o.operands) {
			try {
				names.push_back(host::canonical_domain(d, /*allow_wildcard=*/false));
			} catch (const std::invalid_argument &e) {
				throw DataError(d + ": domain: " + e.what());
			}
		}
	} else {
		std::size_t wildcards = 0;
		auto b = open_store(c, Access::read);
		b->list([&](std::string_view domain, std::string_view) {
			if (domain.starts_with("*.")) {
				wildcards++;
				for (std::string &n : probe::sample_names(domain, o.wildcard_sample))
					names.push_back(std::move(n));
			} else {
				names.emplace_back(domain);
			}
			return true;
		});
		if (wildcards && !o.wildcard_sample)
			report(std::to_string(wildcards) + " wildcard " + (wildcards == 1 ? "entry" : "entries") +
			       " not probed; --wildcard-sample N probes N made-up names under each");
	}
	std::unique_ptr<Responder> responder;
	try {
		responder = std::make_unique<Responder>(c);
	} catch (const BackendError &e) {
		throw ExitError(e.kind() == BackendError::Kind::failed ? exit_code::config
		                                                     : exit_code_of(e, Command::probe),
		                e.what());
	}
	int fds[2];
	if (::pipe2(fds, O_CLOEXEC) != 0)
		throw ExitError(exit_code::software, "pipe: " + std::string(std::strerror(errno)));
	::signal(SIGPIPE, SIG_IGN);
	const pid_t pid = spawn(args, fds[0], fds[1]);
	::close(fds[0]);
	bool problems = false, child_gone = false;
	const auto send = [&](const std::string &line) {
		std::size_t done = 0;
		while (!child_gone && done < line.size()) {
			const ssize_t n = ::write(fds[1], line.data() + done, line.size() - done);
			if (n > 0)
				done += static_cast<std::size_t>(n);
			else if (n < 0 && errno != EINTR)
				child_gone = true; // EPIPE: the child ended; its status says why
		}
	};
	for (const std::string &name : names) {
		if (child_gone)
			break;
		bool any = false;
		for (Document d : all_documents) {
			const std::string doc(document_name(d));
			std::map<std::string, std::string> params = {
				{"REQUEST_METHOD", "GET"},
				{"REQUEST_URI", "/.well-known/matrix/" + doc},
				{"HTTP_HOST", name},
				{"SERVER_PROTOCOL", "HTTP/1.1"},
			};
			const Request request = parse_request(map_param, &params);
			Reply reply;
			responder->answer(request, reply);
			const probe::Answer a = probe::parse_wire(reply.wire());
			if (probe::served(a.status)) {
				any = true;
				send(probe::expectation(name, doc, a));
			} else if (a.status != 404) {
				report(name + ": " + doc + ": mxdelegate answers " + std::to_string(a.status) +
				       ", not probed (\"mxdelegatectl check\" says why)");
				problems = true;
			}
		}
		if (!any && !o.operands.empty()) {
			report(name + ": mxdelegate serves no document for it, nothing to probe");
			problems = true;
		}
	}
	::close(fds[1]);
	const int code = child_status(pid, program);
	return code == exit_code::ok && problems ? exit_code::problems : code;
}

int run(const Options &o)
{
	switch (o.command) {
	case Command::help:
		out(usage_text());
		return exit_code::ok;
	case Command::version:
		out(std::string("mxdelegatectl ") + mxd::version + " (backend ABI " +
		    std::to_string(MXD_BACKEND_ABI_MAJOR) + "." +
		    std::to_string(MXD_BACKEND_ABI_MINOR) + ")\n");
		return exit_code::ok;
	case Command::init: return cmd_init(o);
	case Command::add: return cmd_add(o);
	case Command::set: return cmd_set(o);
	case Command::remove: return cmd_remove(o);
	case Command::show: return cmd_show(o);
	case Command::list: return cmd_list(o);
	case Command::import: return cmd_import(o);
	case Command::export_: return cmd_export(o);
	case Command::check: return cmd_check(o);
	case Command::query: return cmd_query(o);
	case Command::move: return cmd_move(o);
	case Command::status: return cmd_status(o);
	case Command::follow: return cmd_follow(o);
	case Command::probe: return cmd_probe(o);
	case Command::render: return cmd_render(o);
	}
	return exit_code::software;
}

} // namespace

int main(int argc, char **argv)
{
	log::set_program("mxdelegatectl");
	static char buffer[1 << 20];
	std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
	Options o;
	int code;
	try {
		o = parse_args(argc, argv);
		if (!o.command_name.empty())
			command_name = o.command_name;
		code = run(o);
	} catch (const UsageError &e) {
		std::fprintf(stderr, "mxdelegatectl: %s\nTry \"mxdelegatectl --help\".\n", e.what());
		code = exit_code::usage;
	} catch (const DataError &e) {
		report(e.what());
		code = exit_code::data;
	} catch (const ConfigError &e) {
		report(e.what());
		code = exit_code::config;
	} catch (const BackendError &e) {
		report(e.what());
		code = exit_code_of(e, o.command);
	} catch (const ExitError &e) {
		report(e.what());
		code = e.code();
	} catch (const std::exception &e) {
		report(e.what());
		code = exit_code::software;
	}
	if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
		std::fprintf(stderr, "mxdelegatectl: standard output: %s\n", std::strerror(errno));
		if (code == exit_code::ok)
			code = exit_code::io;
	}
	return code;
}
