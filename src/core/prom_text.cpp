#include "core/prom_text.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace mxd::prom {

namespace {

bool name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

bool valid(std::string_view name, bool colon)
{
	if (name.empty())
		return false;
	for (std::size_t i = 0; i < name.size(); ++i)
		if (!name_char(name[i], i == 0, colon))
			return false;
	return true;
}

std::string_view type_name(Type t)
{
	switch (t) {
	case Type::counter:
		return "counter";
	case Type::gauge:
		return "gauge";
	case Type::histogram:
		return "histogram";
	}
	return "untyped";
}

} // namespace

bool valid_metric_name(std::string_view name)
{
	return valid(name, true);
}

bool valid_label_name(std::string_view name)
{
	return valid(name, false) && !name.starts_with("__");
}

std::string escape_label_value(std::string_view value)
{
	std::string out;
	out.reserve(value.size());
	for (char c : value) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string escape_help(std::string_view text)
{
	std::string out;
	out.reserve(text.size());
	for (char c : text) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string format_value(double v)
{
	if (std::isnan(v))
		return "NaN";
	if (std::isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	char buf[32];
	// Shortest round trip; integers below 2^53 come out without exponent.
	if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0)
		return std::to_string(static_cast<std::int64_t>(v));
	const auto r = std::to_chars(buf, buf + sizeof buf, v);
	return std::string(buf, r.ptr);
}

std::string format_value(std::uint64_t v)
{
	return std::to_string(v);
}

void Text::family(std::string_view name, std::string_view help, Type type)
{
	if (!valid_metric_name(name))
		throw std::logic_error("prometheus: invalid metric name \"" + std::string(name) + "\"");
	family_ = name;
	type_ = type;
	text_ += "# HELP ";
	text_ += name;
	text_ += ' ';
	text_ += escape_help(help);
	text_ += "\n# TYPE ";
	text_ += name;
	text_ += ' ';
	text_ += type_name(type);
	text_ += '\n';
}

void Text::line(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
                std::string_view extra_name, std::string_view extra_value, std::string_view value)
{
	if (name != family_)
		throw std::logic_error("prometheus: sample of \"" + std::string(name) +
		                       "\" outside its family (\"" + family_ + "\" is open)");
	text_ += name;
	text_ += suffix;
	bool first = true;
	auto add = [&](std::string_view n, std::string_view v) {
		if (!valid_label_name(n))
			throw std::logic_error("prometheus: invalid label name \"" + std::string(n) +
			                       "\" on \"" + std::string(name) + "\"");
		text_ += first ? '{' : ',';
		first = false;
		text_ += n;
		text_ += "=\"";
		text_ += escape_label_value(v);
		text_ += '"';
	};
	for (const Label &l : labels) {
		// "le" is the histogram's own.
		if (type_ == Type::histogram && l.name == "le")
			throw std::logic_error("prometheus: label \"le\" on the histogram \"" +
			                       std::string(name) + "\"");
		add(l.name, l.value);
	}
	if (!extra_name.empty())
		add(extra_name, extra_value);
	if (!first)
		text_ += '}';
	text_ += ' ';
	text_ += value;
	text_ += '\n';
}

void Text::sample(std::string_view name, std::initializer_list<Label> labels, double value)
{
	line(name, "", labels, {}, {}, format_value(value));
}

void Text::sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value)
{
	line(name, "", labels, {}, {}, format_value(value));
}

void Text::histogram(std::string_view name, std::initializer_list<Label> labels,
                     std::span<const double> bounds, std::span<const std::uint64_t> counts,
                     double sum)
{
	if (type_ != Type::histogram)
		throw std::logic_error("prometheus: \"" + std::string(name) + "\" is not a histogram");
	if (counts.size() != bounds.size() + 1)
		throw std::logic_error("prometheus: \"" + std::string(name) +
		                       "\": one count a bucket and one above them all");
	for (std::size_t i = 1; i < bounds.size(); ++i)
		if (!(bounds[i - 1] < bounds[i]))
			throw std::logic_error("prometheus: \"" + std::string(name) +
			                       "\": bucket bounds must ascend");
	std::uint64_t seen = 0;
	for (std::size_t i = 0; i < bounds.size(); ++i) {
		seen += counts[i];
		line(name, "_bucket", labels, "le", format_value(bounds[i]), format_value(seen));
	}
	seen += counts[bounds.size()];
	line(name, "_bucket", labels, "le", "+Inf", format_value(seen));
	line(name, "_sum", labels, {}, {}, format_value(sum));
	line(name, "_count", labels, {}, {}, format_value(seen));
}

} // namespace mxd::prom
