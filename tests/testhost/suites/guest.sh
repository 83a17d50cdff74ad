# Suite "guest": every guest/ test program under ptvm, inside the test host, with the
# conventions of tests/guest/run.sh: ptvm run --kernel <name>.elf --debug-exit --serial stdio
# plus the program's ptvm arguments (build/guest/<name>.args, else the "/* ptvm-args: ... */"
# line, both copied into the image), expanded by the shell after the program's host-side hooks
# (tests/guest/virtio_host.sh: host_pre_/host_post_/host_cleanup_<name>) have run. A program
# passes when ptvm exits 0, its serial output has the line "PASS <name>" and its post hook agrees.
. /testhost/lib.sh

# A hang detector, not a speed limit: the hostile_* programs take 8-21 s in this test host
# (thousands of emulated exits each) and twice that when the machine under it is loaded; at
# 30 s hostile_status timed out mid-attack, still printing, with two fuzzers and a build
# beside the test host (2026-12-04). A real hang ends here or at run.sh's silence watchdog.
TMO=${TH_GUEST_TIMEOUT:-120}
logdir=$TH_LOGS/guest # the hooks keep their files below it
mkdir -p $logdir
for h in /testhost/guest/*_host.sh; do
	[ -f "$h" ] && . "$h"
done

# hook_lacks NAME: prints what the file defining host_pre_NAME needs and busybox lacks, if any
hook_lacks() {
	for h in /testhost/guest/*_host.sh; do
		grep -q "^host_pre_$1()" "$h" 2> /dev/null || continue
		for c in python3 perl; do
			if grep -q "\\b$c\\b" "$h" && ! command -v $c > /dev/null; then
				echo "$c (tests/guest/$(basename "$h"))"
				return
			fi
		done
	done
}

# run_hook KIND NAME: 0 when there is no such hook or it passed; else its status (77 = skip)
run_hook() {
	hook_reason=
	command -v "host_$1_$2" > /dev/null 2>&1 || return 0
	"host_$1_$2"
}

found=0
for elf in /guest/elf/*.elf; do
	[ -e "$elf" ] || break
	found=1
	name=$(basename "$elf" .elf)
	test=guest-$name
	lacks=$(hook_lacks "$name")
	if [ -n "$lacks" ]; then
		th_skip "$test" "its host side needs $lacks, which the busybox test host lacks"
		continue
	fi
	run_hook pre "$name"
	hst=$?
	if [ $hst != 0 ]; then
		reason=$hook_reason # the cleanup hook starts with a fresh one
		run_hook cleanup "$name"
		if [ $hst = 77 ]; then
			th_skip "$test" "$reason"
		else
			th_fail "$test" "host side: $reason"
		fi
		continue
	fi
	args=$(cat "/guest/elf/$name.args" 2>/dev/null)
	eval "set -- $args"
	log=$TH_LOGS/$test.log
	t0=$(th_now)
	# a host side that feeds ptvm's stdin names it in GUEST_STDIN (tests/guest/run.sh)
	TH_STDIN=${GUEST_STDIN:-/dev/null}
	th_run "$log" "$TMO" ptvm run --kernel "$elf" --debug-exit --serial stdio "$@"
	rc=$?
	TH_STDIN=/dev/null
	took=$(th_elapsed "$t0")
	# the program's own verdict, if it printed one
	why=$(sed -n "s/^[0-9.]* FAIL $name: //p" "$log" | head -n 1)
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail "$test" "timeout after $TMO s (ptvm run --kernel $name.elf --debug-exit $args)" "$log"
	elif [ $rc != 0 ]; then
		th_fail "$test" "${why:+$why [}ptvm $(th_status_reason $rc)${why:+]}: $(th_last_err "$log")" "$log"
	elif ! th_has "$log" "^PASS $name\$"; then
		th_fail "$test" "ptvm exited 0 but the guest printed no 'PASS $name' line${why:+ ($why)}" "$log"
	elif ! run_hook post "$name"; then
		th_fail "$test" "the guest passed, but $hook_reason" "$log"
	else
		th_pass "$test" "$took s" "$log"
	fi
	run_hook cleanup "$name"
done
[ $found = 1 ] || echo "FAIL guest: no guest programs in the image (build/guest/*.elf was empty)"
