#!/bin/sh
# Installs what `make bench` needs beyond tests/install-deps.sh: gnuplot (the chart) and
# python3 (the harness); a no-op when both are there.
set -e
PKGS="gnuplot-nox python3 iproute2"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
