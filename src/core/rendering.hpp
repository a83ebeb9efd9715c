// Renderings kept beside the records ("render on write", HACKING.md): the
// four documents of a record stored under an exact name, rendered when the
// record is written, as bytes a store keeps and hands back, and the
// fingerprint naming everything besides the record that those bytes depend
// on.  Pure: no I/O.
//
// The documents are kept in the form the cache keeps them (core/answer: the
// bytes after the shared lead, and where ETag and Cache-Control sit), so
// that a miss served from a rendering copies bytes and parses nothing.
//
// Nothing read back is trusted for its shape: decode() checks every length
// against what is left before it allocates, the framing of each answer, the
// key the bytes were made for, and a checksum of the whole, so that bytes
// garbled in the store (or copied from another row) give nullopt and the
// caller takes the full path.
#pragma once

#include "core/answer.hpp"
#include "core/render.hpp"
#include "core/response.hpp"
#include "core/route.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mxd::rendering {

// The layout of encode()'s bytes; a new layout is a new number, and bytes of
// another are refused by decode() (the fingerprint names it too, so a store
// never hands them back to a core that asks for this one).
inline constexpr unsigned format = 2;
// Bumped whenever render::document or record::validate may answer
// differently for the same record: every kept rendering is then stale.
inline constexpr unsigned renderer_revision = 1;

// Far above any valid rendering (four documents of at most 12 KiB, their
// headers a few hundred bytes), far below what could hurt: decode() refuses
// anything larger before it reads it.
inline constexpr std::size_t max_size = 256 * 1024;

using Documents = std::array<Answer, document_count>;

// "f2-" and 16 hex digits: XXH3-64 of the format, mxd::version, the renderer
// revision, the canonical (compact, sorted) [defaults] JSON and every
// render::Policy field.  Printable, so that a store may keep it as text.
std::string fingerprint(const nlohmann::json &defaults, const render::Policy &policy);

// The bytes a store keeps for `key` (an exact name) and its documents, in
// Document order.
std::string encode(std::string_view key, const Documents &docs);

// The documents of bytes made by encode() for this same key; nullopt for
// anything else (another key, another format, truncated, garbled, oversized),
// never an exception for bad bytes.
std::optional<Documents> decode(std::string_view bytes, std::string_view key);

// The four documents of the record stored under an exact name, made as a
// miss of that name makes them: the record's text read within bounded_json's
// limits, merged with [defaults] (host == key), validated, rendered.  Both
// render on write (prepare) and the responder's preload of an in-memory
// store make them here.
struct Made {
	enum class Outcome {
		documents,  // docs holds them
		over_limit, // past bounded_json's limits: a 500 for the name
		not_object, // not a JSON object: the store's fault, a 503 when asked
		invalid,    // refused with [defaults]: a 500 for the name
	} outcome = Outcome::documents;
	Documents docs;
	// over_limit: "record ..."; invalid: "field: problem".
	std::string problem;
};
Made make(std::string_view key, std::string_view record_text, const nlohmann::json &defaults,
          const render::Policy &policy);

// What the writer keeps for a record stored under `key`: the record's text
// as the store hands it to lookup(), merged with [defaults] and checked
// exactly as the responder does for host == key, then rendered.
struct Outcome {
	std::optional<std::string> bytes; // nullopt: keep none
	// Why there is none: "wildcard key", or "domain: field: problem".
	std::string skipped;
};
Outcome prepare(std::string_view key, std::string_view record_text, const nlohmann::json &defaults,
                const render::Policy &policy);

} // namespace mxd::rendering
