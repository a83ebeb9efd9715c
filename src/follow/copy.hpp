// The local copy: the SQLite store the responder serves, written only by the
// follower.  It is the sqlite plugin's schema (user_version 1: the responder
// does not know it is a copy) plus the follower's table and write guard.
#pragma once

#include "follow/copy_renderings.hpp"
#include "follow/primary.hpp"

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace mxd::follow {

// The copy cannot be read or written (a full disk, a file that is not a
// database): the follower says so and tries again later.
class CopyError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The copy's schema is newer than this follower knows (exit 69).
class CopySchema : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// What the copy says of itself (its mxdelegate_follow rows).
struct CopyMeta {
	std::string primary, store_id;
	std::int64_t seq = 0;
};

// A full copy built aside in PATH.new and then swapped in whole by
// install(), so that the responder never sees half of it, each exact name
// rendered as it is added.  Destroyed without install(), it removes
// PATH.new.
class Build {
public:
	Build(const std::string &path, std::string primary, const RenderWith &with);
	~Build();
	Build(const Build &) = delete;
	Build &operator=(const Build &) = delete;

	void add(const Row &row);
	std::size_t rows() const { return rows_; }
	std::size_t rendered() const { return rendered_; }
	// Of the rows, those whose rendering was the primary's (Renderer::taken).
	std::size_t taken() const { return taken_; }
	// Ends the build (meta rows, guard, journal mode, fsync) and renames
	// PATH.new over PATH.
	void install(const Head &head);

private:
	std::string path_, fresh_, primary_;
	sqlite3 *db_ = nullptr;
	sqlite3_stmt *insert_ = nullptr;
	std::unique_ptr<Renderer> renderer_;
	std::size_t rows_ = 0, rendered_ = 0, taken_ = 0;
};

class Copy {
public:
	Copy(std::string path, RenderWith with) : path_(std::move(path)), with_(std::move(with)) {}

	const std::string &path() const { return path_; }

	// The copy's own rows; nullopt when there is no copy of the follower's
	// yet (no file, an empty one, a store made otherwise).  A hot journal
	// left by a follower killed mid-apply is rolled back on the way.
	std::optional<CopyMeta> meta() const;

	// What apply() did with the renderings of the rows it wrote.
	struct Applied {
		std::size_t rendered = 0, taken = 0;
	};

	// Applies the changes in one transaction, each row's rendering with it
	// (the primary's, rendered here, or dropped with the row), and records
	// head.max_seq.  `primary` replaces the name in the guard when it
	// changed.
	Applied apply(const Changes &changes, const std::string &primary) const;

	// Renders what the copy lacks for this configuration (catch_up()),
	// in batches of `batch` names, after the name `after`.
	CatchUp render_missing(std::size_t batch, const std::function<bool()> &stop,
	                       std::string &after) const
	{
		return catch_up(path_, with_, batch, stop, after);
	}

private:
	std::string path_;
	RenderWith with_;
};

} // namespace mxd::follow
