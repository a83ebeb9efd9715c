// The renderings of a copy (render on write, HACKING.md): the follower keeps
// each exact name's rendering in the copy's table "renderings", as
// mxdelegatectl does in a SQLite store it writes, so that the responders
// reading the copy serve a miss from it.  Made from the row as the copy
// holds it, read back through the sqlite plugin's own column list, record
// text (plugin::record_of), digest (plugin::row_digest) and rowid
// (plugin::domain_id): the plugin's lookup_rendered then accepts them.
#pragma once

#include "core/render.hpp"
#include "follow/primary.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace mxd::follow {

// What renderings are made under: the [defaults] and [http] of the
// configuration the follower reads (the responders').
struct RenderWith {
	nlohmann::json defaults = nlohmann::json::object();
	render::Policy policy;
};

// Keeps the renderings of one open copy, inside the caller's transaction.
// Throws CopyError when the copy cannot be read or written.
class Renderer {
public:
	Renderer(sqlite3 *db, std::string path, const RenderWith &with);
	~Renderer();
	Renderer(const Renderer &) = delete;
	Renderer &operator=(const Renderer &) = delete;

	enum Kept { current, kept, taken, none };
	// After the row of `domain` was written (or to bring it up to date):
	// `current` when the rendering kept already holds for the row as it
	// is and this fingerprint (nothing written), `kept` when one was
	// rendered here and written, `taken` when `offered` (the primary's
	// rendering of the row) was written instead, `none` when it gets none
	// (a wildcard key, a record refused with these [defaults], no such
	// row), any old one then dropped.  `offered` is taken only when made
	// under this fingerprint for the row exactly as the copy holds it (its
	// digest); its bytes are not decoded here: the responder checks them
	// as it checks its own (key, lengths, checksum), so they are trusted
	// no more than a rendering the follower made.
	Kept keep(std::string_view domain, const Offered *offered = nullptr);
	// After the row of `domain` was removed.
	void forget(std::string_view domain);

	const std::string &fingerprint() const { return fingerprint_; }

private:
	void store(std::string_view domain, const std::string &digest, std::string_view bytes);

	sqlite3 *db_;
	std::string path_;
	const RenderWith &with_;
	std::string fingerprint_;
	sqlite3_stmt *read_ = nullptr, *store_ = nullptr, *forget_ = nullptr;
};

// What a pass over the copy did.
struct CatchUp {
	std::size_t rendered = 0, refused = 0;
	bool finished = false; // the last name was reached
};

// Renders every exact name of the copy at `path` after `after` (in the
// copy's order; empty: from the first) whose rendering is missing or was
// made under another fingerprint or for another row, `batch` names a
// transaction, so that the write lock is never held long while the
// responders read the copy.  `stop` is asked before each batch; true ends
// the pass there, what was committed staying, and `after` holds the last
// name done, so that the next pass goes on from it (a row written before it
// meanwhile was rendered with its write).
CatchUp catch_up(const std::string &path, const RenderWith &with, std::size_t batch,
                 const std::function<bool()> &stop, std::string &after);

} // namespace mxd::follow
