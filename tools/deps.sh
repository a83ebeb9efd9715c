#!/bin/sh
# Installs the Debian 12 packages that the build, the tests and the demo need,
# only when one is missing, so that a second run is quiet and fast.
# Usage: tools/deps.sh [build|check|run]   (default: check, the superset)
set -eu

build="g++ make pkg-config libfcgi-dev nlohmann-json3-dev libtomlplusplus-dev \
libidn2-dev catch2"
check="$build libfcgi-bin clang mandoc curl python3 lighttpd"
run="$build lighttpd curl"

case "${1:-check}" in
build) want=$build ;;
run)   want=$run ;;
check) want=$check ;;
*) echo "deps.sh: unknown set '$1' (build, check or run)" >&2; exit 64 ;;
esac

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
# --no-install-recommends keeps a fresh machine lean; lighttpd must not be
# started as a system service, which policy-rc.d below prevents.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
