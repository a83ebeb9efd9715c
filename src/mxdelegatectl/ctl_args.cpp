#include "mxdelegatectl/ctl_args.hpp"

#include "core/probe_flags.hpp"
#include "core/record_fields.hpp"

#include <charconv>
#include <string_view>

namespace mxd::ctl {

namespace {

struct CommandInfo {
	std::string_view name;
	Command command;
	std::size_t min_operands, max_operands;
	std::string_view operands; // for messages
};

constexpr std::size_t many = static_cast<std::size_t>(-1);

constexpr CommandInfo commands[] = {
	{"init", Command::init, 0, 0, ""},
	{"add", Command::add, 1, 1, "DOMAIN"},
	{"set", Command::set, 1, 1, "DOMAIN"},
	{"remove", Command::remove, 1, many, "DOMAIN..."},
	{"show", Command::show, 1, 1, "DOMAIN"},
	{"list", Command::list, 0, 0, ""},
	{"import", Command::import, 1, 1, "FILE"},
	{"export", Command::export_, 0, 0, ""},
	{"check", Command::check, 0, 0, ""},
	{"move", Command::move, 1, 1, "DOMAIN"},
	{"query", Command::query, 2, 2, "DOMAIN server|client|support|policy_server"},
	{"status", Command::status, 0, 0, ""},
	{"follow", Command::follow, 0, many, ""},
	{"probe", Command::probe, 0, many, "[DOMAIN...]"},
	{"render", Command::render, 0, 0, ""},
};

bool is_field(std::string_view name, bool set)
{
	if (set && name == "unset")
		return true;
	return record::find_option(name) != nullptr;
}

// "--server, --client, ..., --note": every field option.
std::string field_option_list()
{
	std::string out;
	for (const record::OptionInfo &o : record::options)
		out.append(out.empty() ? "--" : ", --").append(o.option);
	return out;
}

// The FIELD lines of the usage text, wrapped before 80 columns.
std::string field_usage()
{
	constexpr std::size_t width = 78;
	const std::string label = "FIELD:", indent(label.size(), ' ');
	std::string out, line = label;
	for (const record::OptionInfo &o : record::options) {
		const std::string item = "--" + std::string(o.option) + " " + std::string(o.metavar);
		if (line.size() > label.size() && line.size() + 1 + item.size() > width) {
			out += line + "\n";
			line = indent;
		}
		line += " " + item;
	}
	return out + line + "\n";
}

// Which options a command takes, and whether each wants a value.
bool command_option(Command c, std::string_view name, bool &value)
{
	value = true;
	switch (c) {
	case Command::add:
	case Command::set:
		return is_field(name, c == Command::set);
	case Command::list:
		if (name == "json") {
			value = false;
			return true;
		}
		return name == "match";
	case Command::import:
		value = false;
		return name == "dry-run" || name == "replace";
	case Command::export_:
		return name == "format";
	case Command::check:
		value = false;
		return name == "strict";
	case Command::move:
		return name == "at" || name == "low" || is_field(name, false);
	case Command::probe:
		// --wildcard-sample is mxdelegatectl's own (it picks the names sent);
		// the rest go to mxdelegate-probe, which judges their values.
		if (name == "wildcard-sample")
			return true;
		if (const probe_flags::Flag *f = probe_flags::find(name)) {
			value = f->value;
			return true;
		}
		return false;
	default:
		return false;
	}
}

} // namespace

const char *usage_text()
{
	static const std::string text =
		"usage: mxdelegatectl [-c CONFIG | --db PATH] [--plugin-dir DIR] [--primary]\n"
		"                     COMMAND ...\n"
		"  init                          create the database, or migrate it\n"
		"  add DOMAIN FIELD...           add a domain; fails if it exists\n"
		"  set DOMAIN FIELD... [--unset NAME]...\n"
		"                                change fields of an existing domain\n"
		"  remove DOMAIN...              remove domains\n"
		"  show DOMAIN                   the stored record as JSON\n"
		"  list [--json] [--match GLOB]  domains, one a line (or JSON lines)\n"
		"  import [--dry-run] [--replace] FILE\n"
		"                                add or replace from TOML or JSON lines\n"
		"  export [--format toml|jsonl]  everything, as import reads it back\n"
		"  render                        render every record again (after a change of\n"
		"                                [defaults] or [http], or an upgrade)\n"
		"  check [--strict]              check the configuration and every record;\n"
		"                                --strict: warnings fail too\n"
		"  query DOMAIN DOCUMENT         the HTTP answer the responder gives\n"
		"  move DOMAIN FIELD... --at TIME [--low SECONDS]\n"
		"                                change at TIME, max_age lowered before it\n"
		"  status                        the [follow] copy's state and lag\n"
		"  follow [ARG...]               keep the copy (runs mxdelegate-follow)\n"
		"  probe [OPTION...] [DOMAIN...] fetch each document as the world sees it and\n"
		"                                compare it with the store (mxdelegate-probe)\n" +
		field_usage() + "See mxdelegatectl(8).\n";
	return text.c_str();
}

Options parse_args(int argc, const char *const *argv)
{
	Options o;
	int i = 1;
	auto take_value = [&](std::string_view name, std::string_view arg, std::size_t eq) {
		if (eq != std::string_view::npos)
			return std::string(arg.substr(eq + 1));
		if (i + 1 >= argc)
			throw UsageError(std::string(name) + " needs a value");
		return std::string(argv[++i]);
	};

	// Global options, up to the command.
	bool have_config = false;
	for (; i < argc; i++) {
		const std::string_view arg = argv[i];
		if (arg.empty() || arg[0] != '-')
			break;
		const std::size_t eq = arg.find('=');
		const std::string_view name = arg.substr(0, eq);
		if (name == "-c" || name == "--config") {
			o.config = take_value(name, arg, eq);
			have_config = true;
			if (o.config.empty())
				throw UsageError(std::string(name) + " needs a file name");
		} else if (name == "--db") {
			o.db = take_value(name, arg, eq);
			if (o.db.empty())
				throw UsageError("--db needs a file name");
		} else if (name == "--plugin-dir") {
			o.plugin_dir = take_value(name, arg, eq);
		} else if (arg == "--primary") {
			o.primary = true;
		} else if (arg == "-h" || arg == "--help") {
			o.command = Command::help;
			return o;
		} else if (arg == "-V" || arg == "--version") {
			o.command = Command::version;
			return o;
		} else {
			throw UsageError("unknown option " + std::string(arg));
		}
	}
	if (have_config && !o.db.empty())
		throw UsageError("-c and --db exclude each other: --db PATH is the sqlite backend "
		                 "without a configuration");
	if (o.primary && !o.db.empty())
		throw UsageError("--primary reads the primary named in a configuration's [follow]; "
		                 "--db PATH has none");
	if (i >= argc)
		throw UsageError("no command given");

	o.command_name = argv[i++];
	const CommandInfo *info = nullptr;
	for (const auto &c : commands)
		if (c.name == o.command_name)
			info = &c;
	if (!info) {
		if (o.command_name == "help") {
			o.command = Command::help;
			return o;
		}
		throw UsageError("unknown command \"" + o.command_name + "\"");
	}
	o.command = info->command;
	if (o.primary && (o.command == Command::status || o.command == Command::follow))
		throw UsageError(o.command_name + ": --primary is for reads; " + o.command_name +
		                 " is about the local copy");
	if (o.command == Command::follow) {
		if (!o.db.empty())
			throw UsageError("follow: needs a configuration with [follow]; --db PATH has none");
		for (; i < argc; i++)
			o.operands.emplace_back(argv[i]);
		return o;
	}

	bool options_end = false;
	for (; i < argc; i++) {
		const std::string_view arg = argv[i];
		if (options_end || arg.size() < 2 || arg[0] != '-') {
			o.operands.emplace_back(arg);
			continue;
		}
		if (arg == "--") {
			options_end = true;
			continue;
		}
		const std::size_t eq = arg.find('=');
		const std::string_view full = arg.substr(0, eq);
		if (!full.starts_with("--")) {
			throw UsageError(o.command_name + ": unknown option " + std::string(arg));
		}
		const std::string_view name = full.substr(2);
		bool value = false;
		if (!command_option(o.command, name, value)) {
			std::string msg = o.command_name + ": unknown option " + std::string(full);
			if (full == "-c" || full == "--config" || full == "--db" || full == "--plugin-dir")
				msg += " (global options go before the command)";
			throw UsageError(msg);
		}
		if (!value) {
			if (eq != std::string_view::npos)
				throw UsageError(o.command_name + ": " + std::string(full) + " takes no value");
			if (o.command == Command::probe)
				o.probe_args.emplace_back(full);
			else if (name == "json")
				o.json = true;
			else if (name == "dry-run")
				o.dry_run = true;
			else if (name == "replace")
				o.replace = true;
			else if (name == "strict")
				o.strict = true;
			continue;
		}
		std::string v = take_value(o.command_name + ": " + std::string(full), arg, eq);
		if (o.command == Command::probe && name == "wildcard-sample") {
			std::size_t n = 0;
			const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
			if (ec != std::errc() || p != v.data() + v.size() || n > 1000)
				throw UsageError(o.command_name + ": --wildcard-sample " + v +
				                 ": want a whole number from 0 to 1000");
			o.wildcard_sample = n;
		} else if (o.command == Command::probe) {
			o.probe_args.push_back(std::string(full) + "=" + v);
		} else if (name == "match") {
			o.match = std::move(v);
		} else if (name == "at") {
			o.at = std::move(v);
		} else if (name == "low") {
			o.low = std::move(v);
		} else if (name == "format") {
			if (v != "toml" && v != "jsonl")
				throw UsageError(o.command_name + ": --format " + v + ": use toml or jsonl");
			o.format = std::move(v);
		} else {
			o.fields.push_back({std::string(name), std::move(v)});
		}
	}

	const std::size_t n = o.operands.size();
	if (n < info->min_operands || n > info->max_operands) {
		std::string want = info->operands.empty() ? "no arguments"
		                                          : "arguments " + std::string(info->operands);
		throw UsageError(o.command_name + ": takes " + want + ", got " + std::to_string(n));
	}
	if ((o.command == Command::add || o.command == Command::set || o.command == Command::move) &&
	    o.fields.empty())
		throw UsageError(o.command_name + ": no field given (" + field_option_list() +
		                 (o.command == Command::set ? ", --unset" : "") + ")");
	if (o.command == Command::move && o.at.empty())
		throw UsageError(o.command_name + ": --at TIME is required (+SECONDS, +2h, +3d or "
		                 "YYYY-MM-DDTHH:MM:SSZ)");
	return o;
}

} // namespace mxd::ctl
