// The FastCGI framing a request must have before a worker sees it.  The gate
// (src/mxdelegate/gate.*) peeks at a connection's bytes without taking them
// and asks scan() what they are: not enough yet, a management record to
// answer here, a whole request to hand to a worker, or a broken rule.  Pure:
// bytes in, a verdict out, so that every rule is tested and fuzzed without
// a socket.
//
// libfcgi, which read the requests until issue 17, trusts what it reads: a
// GET_VALUES naming a variable four times overflows its stack, and it keeps
// parameters of any size in memory.  So every record a worker will read is
// checked here first: version, type, request id, role, the name-value
// pairs' lengths, the parameters' size.  The worker then reads those bytes
// itself (read_request, which checks them again) and writes its answer's
// records (append_reply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace mxd::fcgi_frame {

inline constexpr std::size_t header_size = 8;

// Record types (FastCGI 1.0, section 8).
enum Type : std::uint8_t {
	begin_request = 1,
	abort_request = 2,
	end_request = 3,
	params = 4,
	stdin_stream = 5,
	stdout_stream = 6,
	stderr_stream = 7,
	data = 8,
	get_values = 9,
	get_values_result = 10,
	unknown_type = 11,
};

// The rule a connection broke; the gate closes it and names the rule.
enum class Rule {
	version,          // a record's version is not 1
	no_begin,         // the first record of a request is not BEGIN_REQUEST
	begin_length,     // BEGIN_REQUEST's body is not 8 bytes
	role,             // not RESPONDER, AUTHORIZER or FILTER
	request_id,       // a record of another request on the connection
	record_type,      // a record that has no place there (a second BEGIN, ...)
	null_id,          // BEGIN_REQUEST, PARAMS, ... with request id 0
	management,       // a management record inside a request
	management_size,  // a management record larger than the buffer
	params_bytes,     // the PARAMS records exceed the configured bytes
	params_pairs,     // a name-value pair's lengths overrun the stream
	values_pairs,     // GET_VALUES with a malformed name-value pair
};
const char *describe(Rule rule);

struct Limits {
	// The PARAMS records of one request, headers and padding included.
	std::size_t params_bytes = 64 * 1024;
};

// The most bytes scan() ever needs to see at once: BEGIN_REQUEST, the
// PARAMS records, the first STDIN header with its longest padding, and one
// byte more to see whether anything follows.  A management record must fit
// too (its largest is 8 + 65535 + 255).
std::size_t window(const Limits &limits);

// What scan() knows of a connection between its calls: the position reached
// in the current request, so that records already checked are not walked
// again.  A new request starts from Progress{}.
struct Progress {
	std::size_t offset = 0;   // bytes of this request checked
	std::uint16_t id = 0;     // its request id, 0 before BEGIN_REQUEST
	bool keep = false;        // FCGI_KEEP_CONN
	bool in_params = false;   // BEGIN_REQUEST seen, PARAMS not ended
	std::size_t params = 0;   // bytes of PARAMS records so far
};

struct Verdict {
	enum class Kind {
		need,       // wait until `bytes` bytes are there
		management, // a management record of `bytes` bytes at the front
		whole,      // the request's first `bytes` bytes are all a worker reads
		broken,     // close the connection: `rule`
	} kind = Kind::need;
	std::size_t bytes = 0;
	// whole: the STDIN stream ended in those bytes (no body to come), so
	// the connection can serve another request once this one is answered.
	bool stdin_ended = false;
	Rule rule = Rule::version;
};

// `bytes` is what the connection holds, from the start of the request (at
// most window(limits) of it).  Updates `progress` past what it checked.
Verdict scan(std::span<const std::uint8_t> bytes, Progress &progress, const Limits &limits);

// What mxdelegate says of itself in a GET_VALUES_RESULT.
struct Values {
	std::size_t max_conns = 0;
	std::size_t max_reqs = 0;
};

// The answer to the management record `record` (header included): a
// GET_VALUES_RESULT naming each known variable asked for once, or
// UNKNOWN_TYPE for another type.  Empty when a GET_VALUES's pairs are
// malformed.
std::optional<std::string> answer_management(std::span<const std::uint8_t> record,
                                             const Values &values);

// True when `stream` is a sequence of whole name-value pairs.
bool pairs_well_formed(std::span<const std::uint8_t> stream);

// What a worker needs of a request's BEGIN_REQUEST.
struct Begin {
	std::uint16_t id = 0;
	std::uint16_t role = 0; // 1 responder, 2 authorizer, 3 filter
	bool keep = false;      // FCGI_KEEP_CONN
};

// Called for each parameter, in order; the views live as long as the
// request's bytes and the scratch buffer.
using PairFn = void (*)(std::string_view name, std::string_view value, void *ctx);

// The request at the front of `bytes`, as scan() found it whole: its
// BEGIN_REQUEST, each name-value pair of its PARAMS handed to `pair`, then
// nothing, or the empty STDIN record that ends its stream.  A stream that
// spans records is joined in `scratch` first.  nullopt when the bytes are
// anything else: the gate checked them, but what the worker answers it
// checks again rather than trust a length it did not read.
std::optional<Begin> read_request(std::span<const std::uint8_t> bytes, std::string &scratch,
                                  PairFn pair, void *ctx);

// Appends to `out` the records that answer request `id`: `parts` in order
// as STDOUT records (at most 65,528 bytes each, padded to a multiple of 8),
// the empty STDOUT record, and END_REQUEST (application status 0,
// FCGI_REQUEST_COMPLETE).
void append_reply(std::string &out, std::uint16_t id, std::span<const std::string_view> parts);

} // namespace mxd::fcgi_frame
