// The primary: the PostgreSQL store the follower copies, read through libpq.
// Every read is one REPEATABLE READ READ ONLY transaction, so that what it
// says of the store (its id, the change log's ends) and the rows it hands
// out are one moment of the store.
#pragma once

#include "plugin/sql_columns.hpp"

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mxd::follow {

// The primary cannot be reached, or the connection broke: tried again.
class Unreachable : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// The primary's schema is not the one the follower reads (exit 69).
class WrongSchema : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// What one snapshot says of the store.
struct Head {
	std::string store_id;
	std::int64_t max_seq = 0;        // the highest seq committed (0: none yet)
	std::int64_t pruned_through = 0; // the highest seq ever pruned
};

// The primary's rendering of a row (schema 4): what the follower stores in
// its copy instead of rendering the row itself, when `fingerprint` is its
// own and `digest` the digest of the row as the copy holds it.
struct Offered {
	std::string fingerprint, digest, bytes;
};

// One domain's row as the copy stores it: the record's columns as text
// (nullopt for NULL), created and updated in UTC ISO 8601, and the
// primary's rendering of it, if it keeps one.
struct Row {
	std::string domain;
	std::array<std::optional<std::string>, plugin::record_columns.size()> cells;
	std::string created, updated;
	std::optional<Offered> offered;
};

// Changes after a seq: each domain touched, with its row now (nullopt:
// deleted).  Empty `rows` with full == true: apply is not possible.
struct Changes {
	Head head;
	bool full = false;     // a full copy is needed; why says why
	std::string why;
	std::vector<std::pair<std::string, std::optional<Row>>> rows;
};

class Primary {
public:
	// `shown`: the conninfo without secrets, for messages.
	Primary(std::string conninfo, std::string shown);
	~Primary();
	Primary(const Primary &) = delete;
	Primary &operator=(const Primary &) = delete;

	// Connects, checks the schema version and LISTENs; throws Unreachable
	// or WrongSchema.
	void connect();
	bool connected() const { return conn_ != nullptr; }
	void disconnect();

	// The socket to wait on for notifications, -1 when not connected.
	int socket() const;
	// Reads what arrived; true when a notification came.  Throws
	// Unreachable when the connection is gone.
	bool notified();

	// The whole store, one row at a time in domain order, in one snapshot.
	// `each` may throw to abandon the copy.
	Head copy(const std::function<void(const Row &)> &each);

	// The changes after `last` if they can be applied: none pruned since,
	// the same store, every domain named (no TRUNCATE), not more than
	// `limit` domains.
	Changes changes(std::int64_t last, const std::string &store_id, std::size_t limit);

	const std::string &shown() const { return shown_; }

private:
	void begin_snapshot();
	Head head();
	std::string where() const { return "[follow] " + shown_ + ": "; }
	[[noreturn]] void fail(const PGresult *r, std::string_view what);

	std::string conninfo_, shown_;
	PGconn *conn_ = nullptr;
	// The generation of columns the primary's schema has: a version 2
	// store has no redirect columns, copied as NULL.
	unsigned columns_ = plugin::latest_columns;
	// The primary keeps renderings (version 4): read with each row.
	bool renderings_ = true;
};

// The schema versions the follower reads on the primary: 2 brought the
// change log, 3 the redirect columns, 4 the renderings.
inline constexpr int primary_schema = 4;
inline constexpr int first_rendering_schema = 4;
inline constexpr int oldest_primary_schema = 2;

} // namespace mxd::follow
