#!/bin/sh
# Runs apt-get or apt-cache against a private apt configuration under build/apt/: Debian's
# bookworm (+ updates, security, backports) and trixie, for amd64 and arm64. Nothing in the
# system's apt configuration, package lists or dpkg database changes, and nothing is installed:
# callers only `download` packages and unpack them with dpkg-deb -x.
#
# usage: tests/apt-private.sh apt-get download linux-image-cloud-amd64/trixie
#        tests/apt-private.sh apt-cache -t trixie depends linux-image-arm64:arm64
# bookworm is the default release; trixie and bookworm-backports are chosen explicitly.
#        tests/apt-private.sh update      (the lists are fetched on first use, then once a day)
# env:   APT_PRIVATE (build/apt; an absolute path is best when callers change directory)
set -eu
DIR=${APT_PRIVATE:-build/apt}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
mkdir -p "$DIR/etc/apt.conf.d" "$DIR/etc/preferences.d" "$DIR/etc/trusted.gpg.d" \
	"$DIR/state/lists/partial" "$DIR/cache/archives/partial"
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$DIR/etc/sources.list.new" <<EOS
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm main
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=$KEY] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=$KEY] http://deb.debian.org/debian trixie main
EOS
mv "$DIR/etc/sources.list.new" "$DIR/etc/sources.list"
# bookworm (the machine's own release) is the default; trixie and backports only when asked
# for with -t trixie / -t bookworm-backports, or pkg/trixie for apt-get download.
cat > "$DIR/etc/preferences.d/default" <<EOS
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100
EOS
[ -e "$DIR/state/status" ] || : > "$DIR/state/status"

set -- "$@"
OPTS="-o Dir::Etc=$DIR/etc -o Dir::Etc::sourcelist=$DIR/etc/sources.list
 -o Dir::Etc::sourceparts=- -o Dir::Etc::preferencesparts=$DIR/etc/preferences.d
 -o Dir::Etc::parts=$DIR/etc/apt.conf.d -o Dir::State=$DIR/state
 -o Dir::State::status=$DIR/state/status -o Dir::Cache=$DIR/cache
 -o APT::Architecture=amd64 -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
 -o Debug::NoLocking=1 -o APT::Sandbox::User=root -q"

update() {
	echo "apt-private: fetching package lists into $DIR" >&2
	# shellcheck disable=SC2086
	apt-get $OPTS update >/dev/null
	touch "$DIR/state/updated"
}
if [ "${1:-}" = update ]; then
	update
	exit 0
fi
if [ ! -e "$DIR/state/updated" ] || [ -n "$(find "$DIR/state/updated" -mmin +1440)" ]; then
	update
fi
case ${1:-} in
apt-get | apt-cache) ;;
*) echo "usage: $0 apt-get|apt-cache ARGS... | update" >&2; exit 2 ;;
esac
tool=$1
shift
# shellcheck disable=SC2086
exec "$tool" $OPTS "$@"
