#!/bin/sh
# Runs apt-get or apt-cache against a private apt configuration under build/apt/: Debian's
# bookworm (+ updates, security, backports) and trixie, for amd64 and arm64. Nothing in the
# system's apt configuration, package lists or dpkg database changes, and nothing is installed:
# callers only `download` packages and unpack them with dpkg-deb -x (the unpack subcommand).
#
# usage: tests/apt-private.sh apt-get download linux-image-cloud-amd64/trixie
#        tests/apt-private.sh apt-cache -t trixie depends linux-image-arm64:arm64
# bookworm is the default release; trixie and bookworm-backports are chosen explicitly.
#        tests/apt-private.sh unpack DIR PKG...   (PKG, PKG/release, PKG:arch, PKG:arch/release)
# downloads every PKG into a temporary folder, then unpacks each into DIR with dpkg-deb -x and
# removes the .debs. apt-get's progress goes to stdout; a package that cannot be downloaded
# fails in one line on stderr that names it, before anything is unpacked.
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
# One update at a time: two fetches of a fresh clone's `make -j2 test-unit` (the test host's
# kernel and trixie's iasl) both found no lists and rewrote them together, and one failed.
# apt's own locking is off (Debug::NoLocking: nothing here is the system's).
exec 9> "$DIR/update.lock"
flock 9
if [ "${1:-}" = update ]; then
	update
	exit 0
fi
if [ ! -e "$DIR/state/updated" ] || [ -n "$(find "$DIR/state/updated" -mmin +1440)" ]; then
	update
fi
flock -u 9
exec 9>&-

unpack() { # unpack DIR PKG...
	[ $# -ge 2 ] || { echo "usage: $0 unpack DIR PKG..." >&2; exit 2; }
	dest=$1
	shift
	tmp=$(mktemp -d "$DIR/unpack.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	# one apt-get for them all (the lists are read once, the downloads overlap); where it
	# fails, one call per package finds the package to name
	# shellcheck disable=SC2086
	if ! (cd "$tmp" && apt-get $OPTS download "$@" 2>"$tmp/err"); then
		for pkg in "$@"; do
			# shellcheck disable=SC2086
			if ! (cd "$tmp" && apt-get $OPTS download "$pkg" 2>"$tmp/err"); then
				why=$(sed -n 's/^E: //p' "$tmp/err" | head -n 1)
				echo "apt-private: cannot download $pkg: ${why:-$(tail -n 1 "$tmp/err")}" >&2
				exit 1
			fi
		done
	fi
	cat "$tmp/err" >&2
	mkdir -p "$dest"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dest"
	done
}
case ${1:-} in
apt-get | apt-cache) ;;
unpack) shift; unpack "$@"; exit 0 ;;
*) echo "usage: $0 apt-get|apt-cache ARGS... | unpack DIR PKG... | update" >&2; exit 2 ;;
esac
tool=$1
shift
# shellcheck disable=SC2086
exec "$tool" $OPTS "$@"
