// When a file being watched has changed enough to be read again.  An editor
// that truncates a file and writes it in place can be caught half-way, and a
// half file may still be valid TOML with fewer domains; a file replaced by
// rename(2) is whole the moment it appears.  So a change to the same inode is
// taken only once the file has looked the same for `settle_time`, and a new
// inode at once.  Pure: the caller stats the file and reads the clock.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>

namespace mxd::settle {

// Long against the pauses of a writer that writes a file in pieces (an
// editor's buffered writes, a script's several echo >>), short against a
// person who saves and asks: a change is served about this much later.
inline constexpr std::chrono::milliseconds settle_time{100};

// What stat(2) said about a file: an errno for one that cannot be used.
struct Stamp {
	int error = 0;
	std::uint64_t dev = 0;
	std::uint64_t ino = 0;
	std::int64_t size = -1;
	std::int64_t mtime_ns = 0;
	std::int64_t ctime_ns = 0;

	bool operator==(const Stamp &) const = default;
};

// The stamp of what stat(2) filled in.
Stamp stamp_of(const struct stat &st);

using Clock = std::chrono::steady_clock;

class Watch {
public:
	enum class Verdict {
		same, // nothing to do
		wait, // changed, still settling: look again at due()
		take, // read it now, then tell taken()
	};

	explicit Watch(const Stamp &taken) : taken_(taken) {}

	Verdict see(const Stamp &now, Clock::time_point t);

	// The file was read (or refused) as `s`: the state to compare with.
	void taken(const Stamp &s)
	{
		taken_ = s;
		pending_ = false;
	}

	bool pending() const { return pending_; }
	// When a pending change will have settled, if nothing moves meanwhile.
	Clock::time_point due() const { return since_ + settle_time; }

private:
	Stamp taken_;
	Stamp seen_;        // the last state seen while settling
	Clock::time_point since_{};
	bool pending_ = false;
};

} // namespace mxd::settle
