# Suite "guest": every guest/ test program under ptvm, inside the test host.
# Conventions of tests/guest/run.sh: ptvm run --kernel <name>.elf --debug-exit plus the
# program's "/* ptvm-args: ... */" line (copied to <name>.args when the image was built); the
# program passes when ptvm exits 0 and its serial output has a line "PASS <name>".
. /testhost/lib.sh

TMO=${TH_GUEST_TIMEOUT:-30} # each takes well under a second here
found=0
for elf in /guest/elf/*.elf; do
	[ -e "$elf" ] || break
	found=1
	name=$(basename "$elf" .elf)
	args=$(cat "/guest/elf/$name.args" 2>/dev/null)
	eval "set -- $args"
	log=$TH_LOGS/guest-$name.log
	t0=$(th_now)
	th_run "$log" "$TMO" ptvm run --kernel "$elf" --debug-exit --serial stdio "$@"
	rc=$?
	took=$(th_elapsed "$t0")
	# the program's own verdict, if it printed one
	why=$(sed -n "s/^[0-9.]* FAIL $name: //p" "$log" | head -n 1)
	if [ "$TH_TIMEDOUT" = 1 ]; then
		th_fail "guest-$name" "timeout after $TMO s (ptvm run --kernel $name.elf --debug-exit $args)" "$log"
	elif [ $rc != 0 ]; then
		th_fail "guest-$name" "${why:+$why [}ptvm $(th_status_reason $rc)${why:+]}: $(th_last_err "$log")" "$log"
	elif ! th_has "$log" "^PASS $name\$"; then
		th_fail "guest-$name" "ptvm exited 0 but the guest printed no 'PASS $name' line${why:+ ($why)}" "$log"
	else
		th_pass "guest-$name" "$took s" "$log"
	fi
done
[ $found = 1 ] || echo "FAIL guest: no guest programs in the image (build/guest/*.elf was empty)"
