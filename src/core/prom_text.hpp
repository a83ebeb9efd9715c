// The Prometheus text exposition format, version 0.0.4: metric and label
// names checked, label values and HELP text escaped, numbers written so
// that Prometheus reads back the same value, histograms as their
// cumulative _bucket, _sum and _count series.  Pure: the counters that
// feed it are service/metrics'.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace mxd::prom {

// The Content-Type of the format.
inline constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

enum class Type { counter, gauge, histogram };

// [a-zA-Z_:][a-zA-Z0-9_:]* for metrics; labels the same without ':' and
// never starting with "__" (reserved to Prometheus).
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

// A label value: backslash, double quote and line feed escaped.  HELP
// text: backslash and line feed.  Any other byte is kept (the format is
// UTF-8, and a value is never cut inside a character).
std::string escape_label_value(std::string_view value);
std::string escape_help(std::string_view text);

// A sample's value: integers without exponent or fraction, others in the
// shortest form that reads back the same double; +Inf, -Inf, NaN.
std::string format_value(double v);
std::string format_value(std::uint64_t v);

struct Label {
	std::string_view name, value;
};

// A page of metrics, families one after the other.  Every name and label
// name is checked: a bad one is a programming error, std::logic_error
// naming it, as is a sample of a family not opened last.
class Text {
public:
	// The HELP and TYPE lines of a family; its samples follow.
	void family(std::string_view name, std::string_view help, Type type);
	void sample(std::string_view name, std::initializer_list<Label> labels, double value);
	void sample(std::string_view name, std::initializer_list<Label> labels, std::uint64_t value);
	// A histogram's series: `counts` per bucket (not cumulative), one more
	// than `bounds` (the last is above every bound), the bounds ascending.
	void histogram(std::string_view name, std::initializer_list<Label> labels,
	               std::span<const double> bounds, std::span<const std::uint64_t> counts,
	               double sum);

	const std::string &str() const { return text_; }

private:
	void line(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
	          std::string_view extra_name, std::string_view extra_value, std::string_view value);

	std::string text_;
	std::string family_;
	Type type_ = Type::gauge;
};

} // namespace mxd::prom
