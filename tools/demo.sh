#!/bin/sh
# make run: serves a demo domain on 127.0.0.1:$PORT through a real web
# server, configured from its shipped file in etc/ with the demo's paths put
# in, so that the demo has the shape of a real deployment:
#   SERVER=lighttpd  lighttpd spawns mxdelegate (mod_fastcgi bin-path); default
#   SERVER=apache    Apache spawns it (mod_fcgid)
#   SERVER=nginx     nginx, mxdelegate started by spawn-fcgi (etc/spawn-fcgi/run)
#   SERVER=caddy     Caddy, mxdelegate started the same way
# Everything it writes stays in $BUILDDIR/demo; Ctrl-C stops the server and
# the responder.
set -eu
: "${BUILDDIR:=build}" "${PORT:=8080}" "${SERVER:=lighttpd}"
top=$(pwd)
bin="$top/$BUILDDIR/mxdelegate"
demo="$top/$BUILDDIR/demo"
case "$SERVER" in
lighttpd|apache|nginx|caddy) ;;
*) echo "demo.sh: SERVER=$SERVER: choose lighttpd, apache, nginx or caddy" >&2; exit 64 ;;
esac
mkdir -p "$demo/htdocs"

cat > "$demo/mxdelegate.toml" <<TOML
# Demo configuration written by "make run".
[backend]
name = "toml"
plugin_dir = "$top/$BUILDDIR/backends"

[defaults]
server = "matrix.{domain}:443"

[domains."example.org"]
client = "https://matrix.example.org"
[domains."example.org".support]
contacts = [ { matrix_id = "@admin:example.org", role = "m.role.admin" } ]

[domains."*.example.net"]
client = "https://chat.example.net"
TOML
chmod 644 "$demo/mxdelegate.toml"

"$bin" -c "$demo/mxdelegate.toml" --check

# Under every server, mxdelegate runs as www-data when started as root: it
# must be able to reach the build.
if [ "$(id -u)" -eq 0 ] &&
   ! runuser -u www-data -- test -x "$bin" -a -r "$demo/mxdelegate.toml"; then
	echo "demo.sh: user www-data cannot reach $bin; build in a directory" \
	     "that others may enter" >&2
	exit 1
fi

# The shipped file, with the demo's paths and port put in.
sub() {
	sed -e "s|@PORT@|$PORT|g" -e "s|@DOCROOT@|$demo/htdocs|g" \
	    -e "s|@SOCKET@|$demo/mxdelegate.sock|g" -e "s|@MXDELEGATE@|$bin|g" \
	    -e "s|@CONFIG@|$demo/mxdelegate.toml|g" -e "s|@ERRORLOG@|$demo/error.log|g" \
	    -e "s|@RUNDIR@|$demo/run|g" \
	    -e "s|@ERROR_JSON@|$top/etc/lighttpd/mxdelegate-error.json|g" "$top/etc/$1" > "$demo/$2"
}

responder=
stop_responder() {
	[ -z "$responder" ] || kill "$responder" 2>/dev/null || true
}
# spawn-fcgi in the background, as runit would run etc/spawn-fcgi/run.
start_responder() {
	sub spawn-fcgi/run run.sh
	rm -f "$demo/mxdelegate.sock"
	sh "$demo/run.sh" >> "$demo/error.log" 2>&1 &
	responder=$!
	trap stop_responder EXIT
	trap 'exit 130' INT TERM
	n=0
	until [ -S "$demo/mxdelegate.sock" ]; do
		n=$((n + 1))
		if [ $n -gt 50 ] || ! kill -0 "$responder" 2>/dev/null; then
			echo "demo.sh: spawn-fcgi did not start mxdelegate; see $demo/error.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

rm -rf "$demo/run"
mkdir -p "$demo/run"
case "$SERVER" in
lighttpd)
	# Started as root, lighttpd becomes www-data (server.username) before it
	# opens its log and its socket, in the demo's directory.
	[ "$(id -u)" -ne 0 ] || chown www-data:www-data "$demo"
	sub lighttpd/mxdelegate.conf lighttpd.conf
	lighttpd -tt -f "$demo/lighttpd.conf"
	set -- lighttpd -D -f "$demo/lighttpd.conf"
	what="lighttpd spawning $bin (mod_fastcgi)" ;;
apache)
	chmod 755 "$demo/run"
	sub apache2/mxdelegate-fcgid.conf apache2.conf
	apache2 -t -f "$demo/apache2.conf"
	set -- apache2 -f "$demo/apache2.conf" -DFOREGROUND
	what="Apache spawning $bin (mod_fcgid)" ;;
nginx)
	sub nginx/mxdelegate.conf nginx.conf
	nginx -q -t -c "$demo/nginx.conf" -e "$demo/error.log"
	start_responder
	set -- nginx -c "$demo/nginx.conf" -e "$demo/error.log" -g "daemon off;"
	what="nginx, with $bin started by spawn-fcgi" ;;
caddy)
	sub caddy/Caddyfile Caddyfile
	# Caddy keeps its state under $HOME and the XDG directories.
	export HOME="$demo/run" XDG_DATA_HOME="$demo/run" XDG_CONFIG_HOME="$demo/run"
	if ! out=$(caddy validate --config "$demo/Caddyfile" --adapter caddyfile 2>&1); then
		printf '%s\n' "$out" >&2
		exit 1
	fi
	start_responder
	set -- caddy run --config "$demo/Caddyfile" --adapter caddyfile
	what="Caddy, with $bin started by spawn-fcgi" ;;
esac

cat <<MSG
mxdelegate demo on http://127.0.0.1:$PORT/ ($what)
Try:
  curl -i -H 'Host: example.org' http://127.0.0.1:$PORT/.well-known/matrix/server
  curl -i -H 'Host: example.org' http://127.0.0.1:$PORT/.well-known/matrix/client
  curl -i -H 'Host: example.org' http://127.0.0.1:$PORT/.well-known/matrix/support
  curl -i -H 'Host: chat.example.net' http://127.0.0.1:$PORT/.well-known/matrix/client
  curl -i -H 'Host: unknown.example' http://127.0.0.1:$PORT/.well-known/matrix/client
  curl -i -X OPTIONS -H 'Host: example.org' http://127.0.0.1:$PORT/.well-known/matrix/client
Edit $demo/mxdelegate.toml: changes are served within a second.
Logs: $demo/error.log.  Ctrl-C stops everything.
MSG
if [ -z "$responder" ]; then
	# The server is the only process to stop: it stops what it spawned.
	exec "$@"
fi
"$@"
