#!/bin/sh
# A newer iasl for the tables bookworm's acpica-tools (20200925) does not know (the VIOT came
# with 20210604): trixie's acpica-tools and the trixie libc it needs, downloaded through the
# private apt configuration (tests/apt-private.sh) and unpacked under build/acpica/; nothing
# is installed. build/acpica/iasl runs that iasl with trixie's dynamic loader.
#
# usage: tests/acpica-trixie.sh        (BUILD=build; cached: does nothing once the wrapper runs)
# Offline, it says so and leaves no wrapper: the tests that need it skip by name.
set -eu
BUILD=${BUILD:-build}
DIR=$BUILD/acpica
WRAP=$DIR/iasl
if [ -x "$WRAP" ] && "$WRAP" -v >/dev/null 2>&1; then
	exit 0
fi
TOP=$(pwd)
mkdir -p "$DIR"
cd "$DIR"
rm -rf acpica libc
export APT_PRIVATE="$TOP/$BUILD/apt"
if ! { "$TOP/tests/apt-private.sh" unpack acpica acpica-tools/trixie &&
	"$TOP/tests/apt-private.sh" unpack libc libc6/trixie; } >download.log 2>&1; then
	echo "acpica-trixie: cannot download acpica-tools and libc6 from trixie (see $DIR/download.log);" \
		"the VIOT disassembly test will skip" >&2
	exit 0
fi
cat >iasl.new <<EOS
#!/bin/sh
# trixie's iasl with trixie's libc (tests/acpica-trixie.sh)
D=\$(cd "\$(dirname "\$0")" && pwd)
exec "\$D/libc/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \\
	--library-path "\$D/libc/usr/lib/x86_64-linux-gnu" "\$D/acpica/usr/bin/iasl" "\$@"
EOS
chmod +x iasl.new
mv iasl.new iasl
./iasl -v | grep -i version
