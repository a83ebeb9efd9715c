#!/bin/sh
# Installs the Debian 12 packages that the build, the tests and the demo need,
# only when one is missing, so that a second run is quiet and fast.
# Usage: tools/deps.sh [build|check|run|bench|deb]   (default: check, the superset)
#        tools/deps.sh list SET                  prints SET, one package a line
#                                                (README.md's list is "list build")
set -eu

# "make" and "make install": the compiler and the libraries' headers
# (libsystemd-dev: sd_notify for mxdelegate-follow's Type=notify unit;
# libcurl4-openssl-dev: HTTPS, redirects and many transfers at once for
# mxdelegate-probe, the fetching side of "mxdelegatectl probe", the one
# program that links it; libxxhash-dev: XXH3 for the renderings' fingerprint,
# checksum and row digest, compiled in from its header).  No libfcgi: the
# responder speaks FastCGI itself; the benchmark's floor is a libfcgi program.
build="g++ make pkg-config nlohmann-json3-dev libtomlplusplus-dev \
libidn2-dev libsqlitecpp-dev libsqlite3-dev libpq-dev libsystemd-dev libcurl4-openssl-dev \
libxxhash-dev"
# catch2: the unit tests.
check="$build catch2 sqlite3 libfcgi-bin clang mandoc curl python3 lighttpd"
# make fuzz (part of make check): clang 14 with its sanitizer and libFuzzer
# runtimes.
check="$check libclang-rt-14-dev libfuzzer-14-dev"
# tests/e2e/test_postgres.py runs its own server: initdb and pg_ctl.
check="$check postgresql"
# tests/e2e/test_probe.py makes its test CA and certificates with openssl
# (and serves them with the integration tests' nginx).
check="$check openssl"
# tests/e2e/test_metrics.py: promtool check metrics reads the metrics page
# (promtool is in the prometheus package; its service is not started, as
# below).
check="$check prometheus"
# tests/integration: every web server of etc/, spawn-fcgi, a real browser,
# and procps for the /bin/kill of mxdelegate.service's ExecReload.  The tests
# start each server with a configuration, ports and pid file of their own,
# so a system nginx or Apache already on port 80 does not matter.
check="$check apache2 libapache2-mod-fcgid nginx spawn-fcgi caddy chromium procps"
# tests/integration's autodiscovery: Node and npm, which installs the pinned
# matrix-js-sdk into the build folder at the first run.
check="$check nodejs npm"
# make deb: debhelper (dh, compat 13) and dpkg-dev's dpkg-buildpackage on top
# of the build set, which is debian/control's Build-Depends; lintian checks
# the result.  Rules-Requires-Root: no, so no fakeroot.
deb="$build debhelper dpkg-dev lintian git"
# tests/e2e/test_deb.py (part of make check) builds, lints and installs them.
check="$check debhelper dpkg-dev lintian git"
run="$build lighttpd curl"
# make bench: the floor's libfcgi, the load generator, both web servers,
# valgrind for callgrind.
bench="$build libfcgi-dev wrk nginx lighttpd valgrind python3 postgresql"
# make run's server: SERVER=apache|nginx|caddy (lighttpd by default).
case "${SERVER:-lighttpd}" in
apache) run="$run apache2 libapache2-mod-fcgid" ;;
nginx)  run="$run nginx spawn-fcgi" ;;
caddy)  run="$run caddy spawn-fcgi" ;;
esac

list=
if [ "${1:-}" = list ]; then
	list=1
	shift
fi
case "${1:-check}" in
build) want=$build ;;
run)   want=$run ;;
check) want=$check ;;
bench) want=$bench ;;
deb)   want=$deb ;;
*) echo "deps.sh: unknown set '$1' (build, check, run, bench or deb)" >&2; exit 64 ;;
esac
if [ -n "$list" ]; then
	printf '%s\n' $want
	exit 0
fi
# Some builds of nodejs carry npm (NodeSource's), and Debian's npm package
# then conflicts with them: npm is wanted only where none runs.
if command -v npm >/dev/null 2>&1; then
	want=$(printf '%s\n' $want | grep -vx npm)
fi

missing=
for p in $want; do
	# dpkg-query prints "install ok installed" only for a fully installed package.
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$s" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing; run as root or install them" >&2
	exit 1
fi
echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# --no-install-recommends keeps a fresh machine lean; lighttpd, Apache,
# nginx and Caddy must not be started as system services (on port 80),
# which policy-rc.d below prevents.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
