#!/bin/bash
# Every bad input of issue 2 against ptvm's command line: each must end with a non-zero status
# below 128, exactly one line on stderr that says "error" and names the culprit (the option,
# the file), and no crash (no sanitizer report, no core file). A positive control boots
# build/guest/hello.elf. One PASS/FAIL/SKIP line per case, then a summary line.
#
# usage: tests/cli/bad_input.sh [PTVM]   (default build/ptvm; HELLO= overrides the guest)
# Cases that get as far as the VM need /dev/kvm; the /dev/kvm cases need root (unshare,
# mknod, setpriv). Each says by name why it skips.
set -u

PTVM=${1:-${PTVM:-build/ptvm}}
HELLO=${HELLO:-build/guest/hello.elf}
pass=0
fail=0
skip=0

PASS() {
	echo "PASS $1"
	pass=$((pass + 1))
}
FAIL() {
	echo "FAIL $1: $2"
	fail=$((fail + 1))
}
SKIP() {
	echo "SKIP $1: $2"
	skip=$((skip + 1))
}

if [ ! -x "$PTVM" ]; then
	FAIL setup "$PTVM is missing (make)"
	echo "cli: $pass passed, $fail failed, $skip skipped"
	exit 1
fi

tmp=$(mktemp -d /tmp/ptvm-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# readable by the unprivileged user of the permission case
chmod 755 "$tmp"
cp "$PTVM" "$tmp/ptvm"
ptvm="$tmp/ptvm"

have_hello=false
if [ -f "$HELLO" ]; then
	cp "$HELLO" "$tmp/hello.elf"
	hello="$tmp/hello.elf"
	have_hello=true
fi
have_kvm=false
[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && have_kvm=true
is_root=false
[ "$(id -u)" = 0 ] && is_root=true

# Why a case cannot run here, or nothing. $1: what it needs ("kvm hello root ns").
missing() {
	for need in $1; do
		case $need in
		kvm) $have_kvm || { echo "no usable /dev/kvm on this host"; return; } ;;
		hello) $have_hello || { echo "$HELLO missing (make guest)"; return; } ;;
		root) $is_root || { echo "needs root (unshare --mount, mknod, setpriv)"; return; } ;;
		ns)
			command -v unshare >/dev/null && command -v setpriv >/dev/null ||
				{ echo "unshare/setpriv (util-linux) not installed"; return; }
			unshare --mount sh -c 'mount -t tmpfs tmpfs /dev' 2>/dev/null ||
				{ echo "cannot mount a tmpfs over /dev in a mount namespace"; return; }
			;;
		esac
	done
}

# bad NAME NEEDS CULPRITS CMD...: CULPRITS is a ';'-separated list of strings that the one
# stderr line must all contain. CMD runs in its own empty directory, stdin from /dev/null.
bad() {
	local name=$1 needs=$2 culprits=$3 why st err dir lines c
	shift 3
	why=$(missing "$needs")
	if [ -n "$why" ]; then
		SKIP "$name" "$why"
		return
	fi
	dir="$tmp/$name.cwd"
	err="$tmp/$name.err"
	mkdir -p "$dir"
	(cd "$dir" && ulimit -c unlimited 2>/dev/null; exec timeout -k 5 60 "$@") \
		</dev/null >"$tmp/$name.out" 2>"$err"
	st=$?
	lines=$(wc -l <"$err")
	if [ $st -eq 124 ] || [ $st -eq 137 ]; then
		FAIL "$name" "timed out"
	elif [ $st -ge 128 ]; then
		FAIL "$name" "killed by signal $((st - 128)): $(tail -n 1 "$err")"
	elif [ $st -eq 0 ]; then
		FAIL "$name" "exit status 0 for bad input"
	elif grep -q Sanitizer "$err"; then
		FAIL "$name" "sanitizer report: $(grep -m 1 Sanitizer "$err")"
	elif ls "$dir" | grep -q '^core'; then
		FAIL "$name" "left a core file"
	elif [ "$lines" -ne 1 ]; then
		FAIL "$name" "$lines lines on stderr, want 1: $(head -n 3 "$err" | tr '\n' '|')"
	elif ! grep -q error "$err"; then
		FAIL "$name" "the stderr line does not say error: $(cat "$err")"
	else
		IFS=';'
		for c in $culprits; do
			if ! grep -qF -- "$c" "$err"; then
				unset IFS
				FAIL "$name" "the error does not name '$c': $(cat "$err")"
				return
			fi
		done
		unset IFS
		PASS "$name"
	fi
}

# ---- inputs ----
echo "this is not a kernel" >"$tmp/notes.txt"
head -c 4M /dev/zero >"$tmp/initrd-4M.img"
: >"$tmp/empty.img"
mkdir "$tmp/initrd-dir"
if $have_hello; then
	head -c 100 "$hello" >"$tmp/hello-100.elf"
	# the ELF header and program headers intact, the segments they describe cut off
	phoff=$(od -An -t u8 -j 32 -N 8 "$hello" | tr -d ' ')
	phentsize=$(od -An -t u2 -j 54 -N 2 "$hello" | tr -d ' ')
	phnum=$(od -An -t u2 -j 56 -N 2 "$hello" | tr -d ' ')
	head -c $((phoff + phentsize * phnum)) "$hello" >"$tmp/hello-nosegs.elf"
fi
long_cmdline=$(head -c 65536 /dev/zero | tr '\0' a)
vmlinux_cmdline=$(head -c 2048 /dev/zero | tr '\0' a)

# ---- command line (no /dev/kvm needed) ----
bad no_kernel "" "--kernel" "$ptvm" run
bad no_kernel_with_options "" "--kernel" "$ptvm" run --memory 1G --cpus 2
bad memory_zero "" "--memory" "$ptvm" run --kernel /nonexistent --memory 0
bad memory_unparseable "" "--memory" "$ptvm" run --kernel /nonexistent --memory lots
bad memory_unit_junk "" "--memory" "$ptvm" run --kernel /nonexistent --memory 1.5G
bad memory_below_minimum "" "--memory" "$ptvm" run --kernel /nonexistent --memory 1M
bad memory_not_whole_pages "" "--memory" "$ptvm" run --kernel /nonexistent --memory 3000001
bad cpus_zero "" "--cpus" "$ptvm" run --kernel /nonexistent --cpus 0
bad cpus_negative "" "--cpus" "$ptvm" run --kernel /nonexistent --cpus -1
bad cpus_100000 "" "--cpus" "$ptvm" run --kernel /nonexistent --cpus 100000
bad unknown_option "" "--bogus" "$ptvm" run --kernel /nonexistent --bogus
bad missing_value "" "--memory" "$ptvm" run --kernel /nonexistent --memory
bad stray_argument "" "stray" "$ptvm" run --kernel /nonexistent stray
bad serial_bad_mode "" "--serial" "$ptvm" run --kernel /nonexistent --serial tcp
bad seccomp_bad_mode "" "--seccomp;strict" "$ptvm" run --kernel /nonexistent --seccomp strict

# ---- --jail and --user: checked before anything is built (no /dev/kvm needed) ----
mkdir "$tmp/jail-empty" "$tmp/jail-full"
touch "$tmp/jail-full/leftover"
bad jail_empty_value "" "--jail" "$ptvm" run --kernel /nonexistent --jail ""
bad jail_missing "" "--jail;/nonexistent/jail" "$ptvm" run --kernel /nonexistent --jail /nonexistent/jail
bad jail_not_a_directory "" "--jail;$tmp/notes.txt" "$ptvm" run --kernel /nonexistent --jail "$tmp/notes.txt"
bad jail_not_empty "" "--jail;not empty;leftover" "$ptvm" run --kernel /nonexistent --jail "$tmp/jail-full"
bad jail_host_root "" "--jail" "$ptvm" run --kernel /nonexistent --jail /
bad user_empty "" "--user" "$ptvm" run --kernel /nonexistent --user ""
bad user_no_user "" "--user" "$ptvm" run --kernel /nonexistent --user :0
bad user_no_group "" "--user" "$ptvm" run --kernel /nonexistent --user 65534:
bad user_unknown "" "--user;nosuchuser-ptvm" "$ptvm" run --kernel /nonexistent --user nosuchuser-ptvm
bad user_unknown_group "" "--user;nosuchgroup-ptvm" \
	"$ptvm" run --kernel /nonexistent --user 0:nosuchgroup-ptvm
bad user_numeric_without_group "" "--user;4000000000;U:G" \
	"$ptvm" run --kernel /nonexistent --user 4000000000
bad user_id_out_of_range "" "--user;4294967295" \
	"$ptvm" run --kernel /nonexistent --user 4294967295:0
bad user_switch_needs_root "root ns" "--user;needs root" \
	setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$ptvm" run --kernel /nonexistent --jail "$tmp/jail-empty" --user 0:0
bad unknown_command "" "frobnicate" "$ptvm" frobnicate
bad iommu_not_virtio "" "--iommu;intel" "$ptvm" run --kernel /nonexistent --iommu intel
bad iommu_twice "" "--iommu" "$ptvm" run --kernel /nonexistent --iommu virtio --iommu virtio
bad device_iommu_bad_value "" "--device;iommu=maybe" \
	"$ptvm" run --kernel /nonexistent --device vfio=00:03.0,iommu=maybe

# ---- files (the VM is built first, so these need /dev/kvm) ----
bad kernel_missing "kvm" "/nonexistent/vmlinux" "$ptvm" run --kernel /nonexistent/vmlinux
bad kernel_directory "kvm" "$tmp/initrd-dir" "$ptvm" run --kernel "$tmp/initrd-dir"
bad kernel_not_a_kernel "kvm" "$tmp/notes.txt" "$ptvm" run --kernel "$tmp/notes.txt"
bad kernel_empty "kvm" "$tmp/empty.img" "$ptvm" run --kernel "$tmp/empty.img"
# the other architecture's kernel: an arm64 Image ("ARM\x64" at 0x38), named as such (issue 11;
# the arm64 test host's arm64_cli suite gives x86 kernels to the arm64 ptvm)
head -c 65536 /dev/zero >"$tmp/Image-arm64"
printf 'ARM\144' | dd of="$tmp/Image-arm64" bs=1 seek=56 conv=notrunc 2>/dev/null
bad kernel_arm64_image "kvm" "$tmp/Image-arm64;an arm64 Image;x86_64" \
	"$ptvm" run --kernel "$tmp/Image-arm64"
bad kernel_truncated_100_bytes "kvm hello" "$tmp/hello-100.elf;truncated" \
	"$ptvm" run --kernel "$tmp/hello-100.elf"
bad kernel_truncated_segments "kvm hello" "$tmp/hello-nosegs.elf;truncated" \
	"$ptvm" run --kernel "$tmp/hello-nosegs.elf"
bad initrd_missing "kvm hello" "/nonexistent/initrd.img" \
	"$ptvm" run --kernel "$hello" --initrd /nonexistent/initrd.img
bad initrd_not_a_file "kvm hello" "$tmp/initrd-dir" \
	"$ptvm" run --kernel "$hello" --initrd "$tmp/initrd-dir"
bad memory_too_small_for_initrd "kvm hello" "$tmp/initrd-4M.img;--memory" \
	"$ptvm" run --kernel "$hello" --initrd "$tmp/initrd-4M.img" --memory 2M
bad cpus_above_kvm_limit "kvm hello" "--cpus" "$ptvm" run --kernel "$hello" --cpus 4096
# PVH: ptvm's own limit, BOOT_CMDLINE_MAX - 1 = 65535 bytes
bad cmdline_too_long_pvh "kvm hello" "--cmdline" \
	"$ptvm" run --kernel "$hello" --cmdline "$long_cmdline"
# the same ELF entered as a vmlinux: the 64-bit boot protocol's 2047 bytes
bad cmdline_too_long_linux64 "kvm hello" "--cmdline" \
	"$ptvm" run --kernel "$hello" --boot-protocol linux64 --cmdline "$vmlinux_cmdline"
bad device_iommu_on_without_viommu "kvm hello" "--device;iommu=on needs --iommu virtio" \
	"$ptvm" run --kernel "$hello" --device vfio=00:03.0,iommu=on
bad serial_file_unwritable "kvm hello" "/nonexistent/com1.log" \
	"$ptvm" run --kernel "$hello" --serial file=/nonexistent/com1.log
# huge pages asked for, more than the host has free: the limit and what to raise, not a SIGBUS
# at the first touch
free_huge=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
huge_kib=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
bad hugepages_unavailable "kvm hello" "--memory;huge pages;nr_hugepages" \
	"$ptvm" run --kernel "$hello" --debug-exit \
	--memory "size=$((((${free_huge:-0} + 8) * ${huge_kib:-2048}) / 1024))M,hugepages=on"

# ---- every start-up step that can fail says so: file descriptors run out at each in turn ----
# The smallest RLIMIT_NOFILE that boots hello with a virtio device is found first; every
# smaller limit (from 4: the dynamic loader itself needs 3) must fail with one error line.
why=$(missing "kvm hello")
if [ -n "$why" ]; then
	SKIP fd_limit "$why"
else
	fd_ok=
	for n in $(seq 4 64); do
		if bash -c 'ulimit -n $0; exec timeout -k 5 60 "$@"' "$n" "$ptvm" run --kernel "$hello" \
			--debug-exit --rng --serial off </dev/null >/dev/null 2>&1; then
			fd_ok=$n
			break
		fi
	done
	if [ -z "$fd_ok" ]; then
		FAIL fd_limit "hello did not boot with up to 64 file descriptors"
	else
		for n in $(seq 4 $((fd_ok - 1))); do
			bad "fd_limit_$n" "kvm hello" "Too many open files" \
				bash -c 'ulimit -n $0; exec "$@"' "$n" "$ptvm" run --kernel "$hello" \
				--debug-exit --rng --serial off
		done
	fi
fi

# ---- /dev/kvm itself, hidden or refused inside a private mount namespace ----
hide_dev='mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && exec "$@"'
bad kvm_missing "hello root ns" "/dev/kvm" \
	unshare --mount sh -c "$hide_dev" sh "$ptvm" run --kernel "$hello"
# /dev/null's device node as /dev/kvm, on a /dev of its own: the host may have no /dev/kvm
# to mount over
bad kvm_not_kvm "hello root ns" "/dev/kvm" \
	unshare --mount sh -c "$hide_dev" sh sh -c \
	'mknod -m 666 /dev/kvm c 1 3 && exec "$@"' sh "$ptvm" run --kernel "$hello"
bad kvm_not_permitted "hello root ns" "/dev/kvm" \
	unshare --mount sh -c "$hide_dev" sh sh -c \
	'mknod -m 600 /dev/kvm c 10 232 && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"' \
	sh "$ptvm" run --kernel "$hello"

# ---- a sanitizer build's runtime needs ptrace and fork at exit: it refuses --seccomp on ----
if nm -D "$ptvm" 2>/dev/null | grep -q ' __asan_init'; then
	bad seccomp_on_in_sanitizer_build "kvm hello" "--seccomp on" \
		"$ptvm" run --kernel "$hello" --seccomp on
fi

# ---- positive control: the same binary boots the test kit's hello ----
why=$(missing "kvm hello")
if [ -n "$why" ]; then
	SKIP hello_debug_exit "$why"
else
	(cd "$tmp" && exec timeout -k 5 120 "$ptvm" run --kernel "$hello" --debug-exit) \
		</dev/null >"$tmp/hello.out" 2>"$tmp/hello.err"
	st=$?
	if [ $st -ne 0 ]; then
		FAIL hello_debug_exit "exit status $st: $(tail -n 2 "$tmp/hello.err" | tr '\n' '|')"
	elif grep -q Sanitizer "$tmp/hello.err"; then
		FAIL hello_debug_exit "sanitizer report: $(grep -m 1 Sanitizer "$tmp/hello.err")"
	elif ! grep -q 'PASS hello' "$tmp/hello.out"; then
		FAIL hello_debug_exit "exit 0 but no 'PASS hello' on the serial console"
	else
		PASS hello_debug_exit
	fi
fi

echo "cli: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
