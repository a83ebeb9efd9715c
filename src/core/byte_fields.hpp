// Little-endian integers and length-prefixed bytes, the fields of the
// binary forms mxdelegate writes and reads back (core/rendering,
// core/compiled_domains).  Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mxd::byte_fields {

inline void put_int(std::string &out, std::uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads bytes front to back; every read checks what is left first, so no
// length in the bytes can make it read past the end or allocate more than
// the bytes hold.
class Reader {
public:
	explicit Reader(std::string_view bytes) : rest_(bytes) {}

	// The width a template argument, so that each read compiles to one
	// load: reading back 10,000 compiled domains checks 20,000 lengths.
	template <std::size_t bytes>
	bool integer(std::uint64_t &v)
	{
		if (rest_.size() < bytes)
			return false;
		v = 0;
		for (std::size_t i = 0; i < bytes; i++)
			v |= static_cast<std::uint64_t>(static_cast<unsigned char>(rest_[i])) << (8 * i);
		rest_.remove_prefix(bytes);
		return true;
	}
	template <std::size_t length_bytes>
	bool text(std::string_view &s)
	{
		std::uint64_t n;
		if (!integer<length_bytes>(n) || n > rest_.size())
			return false;
		s = rest_.substr(0, n);
		rest_.remove_prefix(n);
		return true;
	}
	bool done() const { return rest_.empty(); }

private:
	std::string_view rest_;
};

} // namespace mxd::byte_fields
