// Where the requests come from, decided from facts about the command line
// and the environment the process was started in.  Pure: gathering the facts
// (listen::fd0_listening, getenv) is main's, so that every combination can
// be tested.
#pragma once

namespace mxd::mode {

enum class Mode {
	listen_option, // --listen: a socket of our own
	systemd,       // LISTEN_PID is us: the socket(s) from LISTEN_FDS
	inherited,     // a web server put a listening socket on fd 0
	cgi,           // REQUEST_METHOD: answer one CGI request
	listen_config, // [server] listen: a socket of our own
	none,          // no source of requests: the configuration's error, or usage
};

struct Facts {
	bool listen_option = false;   // --listen was given
	bool systemd = false;         // LISTEN_PID names this process and LISTEN_FDS is set
	bool fd0_listening = false;   // fd 0 is a socket not connected to a peer
	bool request_method = false;  // REQUEST_METHOD is set
	bool config_loaded = false;   // the configuration file loaded without an error
	bool config_listen = false;   // ... and has [server] listen
};

// First match wins: --listen; systemd; fd 0; CGI; [server] listen.  A
// configuration that did not load has no [server] listen to go by.
Mode detect(const Facts &facts);

} // namespace mxd::mode
