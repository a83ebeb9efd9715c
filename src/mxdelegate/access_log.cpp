#include "mxdelegate/access_log.hpp"

#include "core/log.hpp"
#include "core/route.hpp"

namespace mxd::access_log {

namespace {

const char *cache_word(Reply::Cache c)
{
	switch (c) {
	case Reply::Cache::hit: return "hit";
	case Reply::Cache::miss: return "miss";
	case Reply::Cache::stale: return "stale";
	case Reply::Cache::none: break;
	}
	return "none";
}

} // namespace

void write(const Request &request, const Reply &reply, std::string_view peer,
           std::chrono::steady_clock::time_point start)
{
	const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
		std::chrono::steady_clock::now() - start).count();
	const std::string_view document = request.document ? document_name(*request.document)
	                                                   : std::string_view();
	log::access({{"method", request.method_name},
	             {"host", request.has_host ? request.host : std::string_view()},
	             {"document", document},
	             {"status", reply.status},
	             {"bytes", static_cast<long long>(reply.size())},
	             {"duration_us", static_cast<long long>(us)},
	             {"cache", cache_word(reply.cache)},
	             {"peer", peer}});
}

} // namespace mxd::access_log
