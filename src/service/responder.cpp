#include "service/responder.hpp"

#include "core/host.hpp"
#include "core/log.hpp"
#include "core/prom_text.hpp"
#include "service/metrics.hpp"

namespace mxd {

namespace {

std::shared_ptr<Backend> open_backend(const Config &c)
{
	auto plugin = Plugin::load(plugin_path(c.plugin_dir, c.backend_name));
	return Backend::open(std::move(plugin), c.backend);
}

Directory::Limits limits(const Config &c, Responder::Preload preload)
{
	Directory::Limits l;
	l.preload = preload == Responder::Preload::yes;
	l.watch = l.preload; // the server's alone, as the preload
	l.bytes = c.cache_bytes;
	l.wildcard_depth = c.wildcard_depth;
	if (c.cache_size) {
		// Still obeyed, so that a configuration written for it keeps its
		// bound; but a count of hosts bounds no memory, since one record
		// renders to 300 bytes and another to 48 KiB.
		l.hosts = *c.cache_size;
		log::warning("config", c.file + ": [server] cache_size is deprecated; the cache is "
		                       "bounded by cache_bytes (" + std::to_string(c.cache_bytes) +
		                       " bytes), and cache_size = " + std::to_string(*c.cache_size) +
		                       " still caps it in hosts");
	}
	return l;
}

// A key no store holds (.invalid is reserved, RFC 6761): the answer does
// not matter, only that the store could give one.
constexpr const char *probe_key = "mxdelegate-probe.invalid";

} // namespace

Response health_response(std::string_view backend_name, const std::string *failure,
                         std::uint64_t generation)
{
	// The CORS headers of every answer, then no-store: a health answer
	// kept by any cache would hide the store's state from the monitor.
	Response r = render::preflight();
	r.status = failure ? 503 : 200;
	r.headers.emplace_back("Cache-Control", "no-store");
	nlohmann::ordered_json body; // "status" first, for a human reading it
	if (failure) {
		body["status"] = "unavailable";
		body["backend"] = backend_name;
		// The plugin's message, on one line and bounded: it names what
		// failed (a path, a server, a timeout), never a password, as the
		// error log has it.  Plugins start it with their name; one that
		// does not is given it.
		std::string reason = log::one_line(*failure, {.max = 400});
		const std::string prefix = std::string(backend_name) + ":";
		if (!reason.starts_with(prefix))
			reason = prefix + " " + reason;
		body["reason"] = reason;
	} else {
		body["status"] = "ok";
		body["backend"] = backend_name;
		body["generation"] = generation;
	}
	r.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
	return r;
}

Responder::Responder(const Config &config, Preload preload)
	: config_(config),
	  directory_(open_backend(config), config.defaults, config.http, limits(config, preload)),
	  preflight_(make_answer(render::preflight())),
	  no_path_(make_answer(render::error(404, "M_NOT_FOUND",
	                                     "Not a Matrix well-known path", config.http))),
	  bad_method_(make_answer(render::error(405, "M_UNRECOGNIZED",
	                                        "Method not allowed; use GET, HEAD or OPTIONS",
	                                        config.http))),
	  bad_host_(make_answer(render::error(400, "M_BAD_REQUEST",
	                                      "Missing or invalid Host", config.http))),
	  ip_host_(make_answer(render::error(404, "M_NOT_FOUND",
	                                     "No Matrix delegation is configured for this host",
	                                     config.http))),
	  bad_role_(make_answer(render::error(403, "M_FORBIDDEN",
	                                      "mxdelegate is a FastCGI responder, not an "
	                                      "authorizer or a filter",
	                                      config.http))),
	  no_target_(make_answer(render::error(400, "M_BAD_REQUEST",
	                                       "No request path (REQUEST_URI or SCRIPT_NAME)",
	                                       config.http)))
{
}

std::shared_ptr<Responder> Responder::checked(const Config &config, const Responder *previous,
                                             Preload preload)
{
	auto r = std::make_shared<Responder>(config, preload);
	r->directory_.backend().lookup(probe_key);
	if (previous) {
		const Config &old = previous->config();
		if (old.backend_name == config.backend_name && old.plugin_dir == config.plugin_dir &&
		    old.backend == config.backend)
			r->directory_.adopt(previous->directory_);
	}
	return r;
}

void Responder::fixed(Reply &reply, const Answer &answer, bool head) const
{
	reply.hold.reset();
	reply.cache = Reply::Cache::none;
	reply.status = answer.status;
	reply.lead = answer.lead;
	reply.bytes = answer.bytes(head);
}

void Responder::unavailable(Reply &reply, std::string_view why, bool head)
{
	if (backend_log_.allow())
		log::error("backend", std::string(why) + "; answering 503");
	Response r = render::error(503, "M_UNAVAILABLE",
	                           "The delegation store is unavailable; try again later",
	                           config_.http);
	reply.hold.reset();
	reply.lead = {};
	reply.cache = Reply::Cache::none;
	reply.status = 503;
	reply.buffer = serialize(r, !head);
	reply.bytes = reply.buffer;
}

void Responder::health(Reply &reply, bool head)
{
	// Asked of the store on every request, never of the cache: the answer
	// is the store's state now.  The plugin's own deadline ([backend]
	// timeout) bounds the wait.
	std::string failure;
	std::uint64_t generation = 0;
	try {
		const Backend &b = directory_.backend();
		b.lookup(probe_key);
		generation = b.generation();
	} catch (const std::exception &e) {
		failure = e.what();
		if (failure.empty())
			failure = "failed";
	}
	const Response r =
		health_response(config_.backend_name, failure.empty() ? nullptr : &failure, generation);
	reply.hold.reset();
	reply.lead = {};
	reply.cache = Reply::Cache::none;
	reply.status = r.status;
	reply.buffer = serialize(r, !head);
	reply.bytes = reply.buffer;
}

void Responder::metrics(Reply &reply, bool head)
{
	metrics::View v;
	v.backend = config_.backend_name;
	v.generation = directory_.generation();
	v.generation_changed = directory_.generation_changed();
	v.config_loaded = loaded_;
	const Directory::Usage u = directory_.usage();
	v.hosts = u.hosts;
	v.bytes = u.bytes;
	v.unknown = u.unknown;
	v.unknown_bytes = u.unknown_bytes;
	v.preloaded = u.preloaded;
	v.preloaded_bytes = u.preloaded_bytes;
	if (config_.follow)
		v.follow_copy = copy_path(config_);
	Response r;
	r.status = 200;
	r.headers.emplace_back("Content-Type", std::string(prom::content_type));
	r.headers.emplace_back("Cache-Control", "no-store");
	r.body = metrics::render(v);
	reply.hold.reset();
	reply.lead = {};
	reply.cache = Reply::Cache::none;
	reply.status = 200;
	reply.buffer = serialize(r, !head);
	reply.bytes = reply.buffer;
}

void Responder::answer(const Request &req, Reply &reply)
{
	const bool head = req.method == Method::head;
	// A worker's Reply serves request after request: only an Answer's
	// own bytes come with a lead.
	reply.lead = {};
	if (req.role != Role::responder)
		return fixed(reply, bad_role_, false);
	// Preflight runs no endpoint logic (client-server API, "Web Browser
	// Clients"): not even the Host is looked at.
	if (req.method == Method::options)
		return fixed(reply, preflight_, false);
	if (!req.has_target)
		return fixed(reply, no_target_, head);
	if (req.method != Method::get && !head &&
	    (req.document || is_health(config_, req) || is_metrics(config_, req)))
		return fixed(reply, bad_method_, false);
	if (!req.document) {
		// The health path names no tenant: its Host, if any, is not read.
		if (is_health(config_, req))
			return health(reply, head);
		if (is_metrics(config_, req))
			return metrics(reply, head);
		return fixed(reply, no_path_, head);
	}

	const host::Normalised host = host::normalise(req.has_host ? req.host : std::string_view());
	if (!req.has_host || host.kind == host::Kind::invalid)
		return fixed(reply, bad_host_, head);
	if (host.kind == host::Kind::ip_literal)
		return fixed(reply, ip_host_, head);

	Directory::Found found;
	try {
		found = directory_.find(host.name, *req.document);
	} catch (const std::exception &e) {
		return unavailable(reply, e.what(), head);
	}
	const Answer &a = *found.answer;
	reply.hold = std::move(found.answer);
	reply.status = a.status;
	reply.cache = found.stale ? Reply::Cache::stale
	            : found.hit   ? Reply::Cache::hit
	                          : Reply::Cache::miss;
	const bool matched = a.etag_size != 0 && !req.if_none_match.empty() &&
	                     render::etag_matches(req.if_none_match, a.etag());
	if (matched) {
		reply.status = 304;
		reply.buffer = not_modified(a);
		reply.bytes = reply.buffer;
	} else {
		reply.lead = a.lead;
		reply.bytes = a.bytes(head);
	}
	if (found.stale) {
		if (backend_log_.allow())
			log::error("backend", "cannot confirm the answer for " + log::escape(host.name, 64) +
			                          "; serving the cached one with max-age at most " +
			                          std::to_string(config_.http.stale_max_age),
			           {{"domain", host.name}, {"document", document_name(*req.document)}});
		// Cache-Control is never in the lead: lowered in bytes alone.
		reply.buffer = stale(a, reply.bytes, config_.http.stale_max_age);
		reply.bytes = reply.buffer;
	}
}

void Responder::refresh()
{
	try {
		directory_.refresh();
		directory_.renew();
		if (refresh_failing_)
			log::info("backend", "generation check works again");
		refresh_failing_ = false;
	} catch (const std::exception &e) {
		if (!refresh_failing_)
			log::error("backend", std::string("generation check failed: ") + e.what());
		refresh_failing_ = true;
	}
}

} // namespace mxd
