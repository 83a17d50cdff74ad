#!/bin/sh
# Boots every build/guest/*.elf (or the programs named as arguments) and checks its result:
# a program passes when the VMM reports result 0 through port 0xf4 AND the serial console
# shows "PASS <name>". Extra VMM arguments come from a line in guest/<name>.c such as
#   /* ptvm-args: --cpus 4 --cmdline cpus=4 */
# (the build copies it to build/guest/<name>.args, which wins when present). The line is
# expanded by the shell: virtio programs name files and values that their host side in
# tests/guest/virtio_host.sh makes before the VM ($GUEST_TMP, $BLK_SEED, ...) and checks after;
# a host side that sets GUEST_STDIN (a FIFO it feeds) makes that ptvm's stdin.
# Prints "PASS name (N.N s)", "FAIL name: reason" or "SKIP name: what is missing" per program,
# then "guest: N passed, N failed[, N skipped: names]".
#
#   GUEST_VMM=ptvm (default)  build/ptvm run --kernel X --debug-exit --serial stdio ARGS
#   GUEST_VMM=qemu            qemu-system-x86_64 -M q35 -accel tcg (isa-debug-exit), the same
#                             programs under QEMU TCG, with ARGS translated
#   GUEST_PTVM=path           the ptvm binary (default $BUILD/ptvm; e.g. build/ptvm-asan)
#   GUEST_TIMEOUT=seconds     per program (default 30; each takes well under 1 s here)
#   GUEST_PTVM_ARGS="..."     more ptvm options for every program (e.g. --jail DIR --user U:G)
#   BUILD=dir                 build directory (default build)
# Serial and VMM logs are kept in $BUILD/tests/guest/<name>.{serial,log}.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
vmm=${GUEST_VMM:-ptvm}
ptvm=${GUEST_PTVM:-$BUILD/ptvm}
tmo=${GUEST_TIMEOUT:-30}
logdir=$BUILD/tests/guest
mkdir -p "$logdir"

if [ $# -gt 0 ]; then
	elfs=""
	for n in "$@"; do elfs="$elfs $BUILD/guest/$n.elf"; done
else
	# this tree's programs (guest/*.c), not whatever .elf another branch left in this build/
	elfs=
	for c in guest/*.c; do
		elfs="$elfs $BUILD/guest/$(basename "$c" .c).elf"
	done
fi
if [ -z "$elfs" ]; then
	echo "FAIL all: no guest programs in $BUILD/guest (run make guest)"
	echo "guest: 0 passed, 1 failed"
	exit 1
fi

case $vmm in
ptvm)
	if [ ! -e /dev/kvm ]; then
		echo "SKIP all: /dev/kvm missing"
		echo "guest: 0 passed, 0 failed (all skipped)"
		exit 0
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "SKIP all: /dev/kvm not accessible to $(id -un)"
		echo "guest: 0 passed, 0 failed (all skipped)"
		exit 0
	fi
	if [ ! -x "$ptvm" ]; then
		echo "FAIL all: $ptvm missing (run make)"
		echo "guest: 0 passed, 1 failed"
		exit 1
	fi
	;;
qemu)
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "SKIP all: qemu-system-x86_64 missing"
		echo "guest: 0 passed, 0 failed (all skipped)"
		exit 0
	fi
	;;
*)
	echo "FAIL all: GUEST_VMM=$vmm is neither ptvm nor qemu"
	exit 1
	;;
esac

now() { date +%s.%N; }

# what a ptvm exit status means (its contract); QEMU's are translated to these first
describe_status() {
	case $1 in
	0) echo "exit 0" ;;
	1) echo "exit 1 (bad input or host error)" ;;
	64) echo "exit 64 (guest reboot)" ;;
	65) echo "exit 65 (triple fault)" ;;
	66) echo "exit 66 (KVM internal error)" ;;
	67) echo "exit 67 (unhandled exit or entry failure)" ;;
	68) echo "exit 68 (a forbidden system call: seccomp)" ;;
	124) echo "timed out after ${tmo}s" ;;
	130) echo "exit 130 (killed)" ;;
	*) echo "exit $1 (guest failure code $1)" ;;
	esac
}

# run_ptvm ELF SERIAL LOG ARGS...: exit status of ptvm
run_ptvm() {
	elf=$1 serial=$2 log=$3
	shift 3
	# shellcheck disable=SC2086 # a list of options by design
	timeout -k 5 "$tmo" "$ptvm" run --kernel "$elf" --debug-exit --serial stdio \
		${GUEST_PTVM_ARGS:-} "$@" \
		>"$serial" 2>"$log" <"${GUEST_STDIN:-/dev/null}"
}

# run_qemu ELF SERIAL LOG ARGS...: ptvm's arguments translated; returns the guest's value V
# (QEMU exits with (V << 1) | 1 after a debug-exit write, other statuses are its own)
run_qemu() {
	elf=$1 serial=$2 log=$3
	shift 3
	smp=1 mem=512M append="" dev="" nrng=0 ndisk=0 nnet=0
	while [ $# -gt 0 ]; do
		case $1 in
		--cpus) smp=$2; shift ;;
		--cmdline) append=$2; shift ;;
		--memory) mem=$(echo "$2" | sed 's/^size=//; s/,.*//'); shift ;;
		--disk)
			ndisk=$((ndisk + 1))
			drive="if=none,id=disk$ndisk,format=raw" vdev="virtio-blk-pci,drive=disk$ndisk"
			for kv in $(echo "$2" | tr ',' ' '); do
				case $kv in
				path=*) drive="$drive,file=${kv#path=}" ;;
				readonly=on) drive="$drive,readonly=on" ;;
				serial=*) vdev="$vdev,serial=${kv#serial=}" ;;
				*) echo "run.sh: --disk $kv has no QEMU equivalent, ignored" >>"$log" ;;
				esac
			done
			dev="$dev -drive $drive -device $vdev,disable-legacy=on"
			shift
			;;
		--net)
			nnet=$((nnet + 1))
			netdev="tap,id=net$nnet,script=no,downscript=no" vdev="virtio-net-pci,netdev=net$nnet"
			for kv in $(echo "$2" | tr ',' ' '); do
				case $kv in
				tap=*) netdev="$netdev,ifname=${kv#tap=}" ;;
				mac=*) vdev="$vdev,mac=${kv#mac=}" ;;
				*) echo "run.sh: --net $kv has no QEMU equivalent, ignored" >>"$log" ;;
				esac
			done
			dev="$dev -netdev $netdev -device $vdev,disable-legacy=on"
			shift
			;;
		--rng)
			src=/dev/urandom
			case $2 in src=*) src=${2#src=}; shift ;; esac
			nrng=$((nrng + 1))
			dev="$dev -object rng-random,id=rng$nrng,filename=$src"
			dev="$dev -device virtio-rng-pci,rng=rng$nrng,disable-legacy=on"
			;;
		*) echo "run.sh: no QEMU equivalent for $1, ignored" >>"$log" ;;
		esac
		shift
	done
	timeout -k 5 "$tmo" qemu-system-x86_64 -M q35 -accel tcg -m "$mem" -smp "$smp" \
		-kernel "$elf" -append "$append" -display none -nodefaults -serial stdio \
		-no-reboot -device isa-debug-exit,iobase=0xf4,iosize=4 $dev \
		>"$serial" 2>>"$log" </dev/null
	st=$?
	if [ $st -eq 124 ] || [ $st -eq 137 ]; then
		return 124
	fi
	if [ $((st & 1)) -eq 1 ]; then
		return $((st >> 1))
	fi
	echo "qemu exited with status $st without a debug-exit write" >>"$log"
	return 67
}

# host sides of the virtio programs: host_pre_/host_post_/host_cleanup_<name>
for h in tests/guest/*_host.sh; do
	. "$h"
done

# run_hook KIND NAME: 0 when there is no such hook or it passed; else its status
run_hook() {
	hook_reason=""
	command -v "host_$1_$2" >/dev/null 2>&1 || return 0
	"host_$1_$2"
}

pass=0
fail=0
skip=0
skipped=""
for elf in $elfs; do
	name=$(basename "$elf" .elf)
	src=guest/$name.c
	serial=$logdir/$name.serial
	log=$logdir/$name.log
	: >"$log"
	if [ ! -f "$elf" ]; then
		echo "FAIL $name: $elf missing"
		fail=$((fail + 1))
		continue
	fi
	args=""
	if [ -f "$BUILD/guest/$name.args" ]; then
		args=$(cat "$BUILD/guest/$name.args")
	elif [ -f "$src" ]; then
		args=$(sed -n 's|.*ptvm-args:\(.*\)|\1|p' "$src" | sed 's|\*/.*||' | head -1)
	fi
	run_hook pre "$name"
	hst=$?
	if [ $hst -ne 0 ]; then
		pre_reason=$hook_reason
		run_hook cleanup "$name"
		hook_reason=$pre_reason
		if [ $hst -eq 77 ]; then
			echo "SKIP $name: $hook_reason"
			skip=$((skip + 1))
			skipped="$skipped $name"
		else
			echo "FAIL $name: host side: $hook_reason"
			fail=$((fail + 1))
		fi
		continue
	fi
	eval "set -- $args"
	t0=$(now)
	"run_$vmm" "$elf" "$serial" "$log" "$@"
	st=$?
	t1=$(now)
	secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
	if [ $st -eq 0 ] && tr -d '\r' <"$serial" | grep -qx "PASS $name"; then
		if run_hook post "$name"; then
			echo "PASS $name ($secs s)"
			pass=$((pass + 1))
		else
			echo "FAIL $name: guest passed, but $hook_reason ($secs s)"
			fail=$((fail + 1))
		fi
		run_hook cleanup "$name"
		continue
	fi
	run_hook cleanup "$name"
	reason=$(tr -d '\r' <"$serial" | sed -n "s/^FAIL $name: //p" | head -1)
	if [ -n "$reason" ]; then
		reason="$reason [$(describe_status $st)]"
	elif [ $st -eq 0 ]; then
		reason="exit 0 but no \"PASS $name\" on the serial console"
	else
		reason=$(describe_status $st)
	fi
	# a sanitizer build (GUEST_PTVM=build/ptvm-asan or -tsan) ends with its own status
	if grep -q "^WARNING: ThreadSanitizer\|^==[0-9]*==ERROR: \(Address\|Leak\)Sanitizer\|runtime error:" "$log"; then
		reason="$reason; sanitizer report in $log"
	fi
	echo "FAIL $name: $reason ($secs s)"
	# enough context to act on without opening the logs
	tail -n 5 "$serial" | sed 's/^/    serial: /'
	tail -n 5 "$log" | sed 's/^/    log: /'
	fail=$((fail + 1))
done
if [ $skip -gt 0 ]; then
	echo "guest: $pass passed, $fail failed, $skip skipped:$skipped"
else
	echo "guest: $pass passed, $fail failed"
fi
[ $fail -eq 0 ]
