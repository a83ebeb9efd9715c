// What a Matrix client and a homeserver conclude from a domain's documents,
// as the spec's discovery steps say (client-server API, "Well-known URIs";
// server-server API, "Resolving server names").  Pure: the engine fetches
// the URLs these name and hands the hops back.
#pragma once

#include "probe/probe_classify.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mxd::probe {

// The client's verdict on /client; a homeserver's on /server is ok or
// fail_error ("FAIL").
enum class Verdict { ok, ignore, fail_prompt, fail_error };

struct Conclusion {
	Verdict verdict = Verdict::ok;
	std::string why;  // empty for ok
	std::string next; // a URL still to ask before the verdict is final
};

// "ok", "IGNORE", "FAIL_PROMPT", "FAIL_ERROR"; "FAIL" for federation.
std::string verdict_name(Verdict v, bool federation = false);

// Steps 1 to 3 of client discovery on /client as a browser fetched it: a
// verdict, or `next`, the homeserver's /_matrix/client/versions to ask.
Conclusion client_wellknown(const std::vector<Hop> &hops, std::string_view origin);
// The last step: the versions answer (after its redirects).
Conclusion client_versions(const std::vector<Hop> &hops, std::string_view origin);

// Where a homeserver sends federation requests for a server name.
struct FedTarget {
	std::string host;     // the delegated name, or an IP literal (no brackets)
	std::uint16_t port = 8448;
	bool ip_literal = false;
	bool port_given = false; // no SRV lookup then
	// The URL of /_matrix/federation/v1/version on host:port (the Host and
	// the certificate's name are the delegated name's whatever SRV says).
	std::string version_url() const;
};

// A Matrix server name ("host", "host:port", "[v6]:port"); nothing when it
// is not one.
std::optional<FedTarget> server_name(std::string_view name);

// The name a homeserver federates with for `domain`, given the /server
// fetch: its m.server when that is a valid server name in a JSON object
// of a 200, else the domain itself (the spec's fallback).  `why` says
// which it was.
FedTarget federation_target(std::string_view domain, const std::vector<Hop> &wellknown, std::string &why);

struct Srv {
	std::uint16_t priority = 0, weight = 0, port = 0;
	std::string target; // without the final dot
};
// The record a resolver tries first: the lowest priority, the highest
// weight of those (no random pick: a probe should be repeatable); nothing
// for none or for the "." target (no service).
std::optional<Srv> pick_srv(const std::vector<Srv> &records);

// ok when the version answer is a 200 with a JSON object holding "server".
Conclusion federation_version(const std::vector<Hop> &hops);

} // namespace mxd::probe
