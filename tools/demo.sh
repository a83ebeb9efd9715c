#!/bin/sh
# make run: serves a demo domain through a real lighttpd that spawns
# mxdelegate with mod_fastcgi (bin-path), on 127.0.0.1:$PORT.  Everything it
# writes stays in $BUILDDIR/demo; Ctrl-C stops lighttpd and, with it, the
# responder it spawned.
set -eu
: "${BUILDDIR:=build}" "${PORT:=8080}"
top=$(pwd)
bin="$top/$BUILDDIR/mxdelegate"
demo="$top/$BUILDDIR/demo"
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

"$bin" -c "$demo/mxdelegate.toml" --check

# The shipped example, with the demo's paths and port put in.
sed -e "s|@PORT@|$PORT|g" -e "s|@DOCROOT@|$demo/htdocs|g" \
    -e "s|@SOCKET@|$demo/mxdelegate.sock|g" \
    -e "s|@MXDELEGATE@|$bin -c $demo/mxdelegate.toml|g" \
    -e "s|@ERRORLOG@|$demo/error.log|g" \
    "$top/etc/lighttpd/mxdelegate.conf" > "$demo/lighttpd.conf"
lighttpd -tt -f "$demo/lighttpd.conf"

cat <<MSG
mxdelegate demo on http://127.0.0.1:$PORT/ (lighttpd spawning $bin)
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
exec lighttpd -D -f "$demo/lighttpd.conf"
