# Diagnosis of a hung test host, for run.sh (sourced; bash).
#
# run.sh gives QEMU a human monitor on two FIFOs (qmon_args) and, when the console has been silent
# for TH_SILENCE seconds, calls hang_diagnose before it ends the run:
#   - the QEMU threads (which vCPU threads burn CPU), from /proc;
#   - `info registers -a` twice, one second apart: each CPU's RIP, CPL, IF and HLT, the RIP
#     named through the test host kernel's symbols when they are at hand (see hostdiag_syms);
#   - `info lapic` per CPU (pending and in-service vectors: a lost or unserved IPI shows here);
#   - an NMI to every CPU: init set kernel.unknown_nmi_panic, so a test-host kernel that can
#     still take an NMI panics and prints every CPU's backtrace (panic_print) on the console.
# Everything goes to the run's log; a summary to the terminal.

QMON_DIR=
QMON_LOG=

qmon_args() { # qmon_args DIR: sets QMON_ARGS, the QEMU options for a monitor on DIR/mon.{in,out}
	QMON_DIR=$1
	QMON_LOG=$QMON_DIR/mon.log
	rm -f "$QMON_DIR/mon.in" "$QMON_DIR/mon.out"
	mkfifo "$QMON_DIR/mon.in" "$QMON_DIR/mon.out"
	: > "$QMON_LOG"
	# QEMU opens both FIFOs read-write; this reader drains the output for the whole run (so the
	# monitor never blocks on a full FIFO) and ends when QEMU does.
	cat "$QMON_DIR/mon.out" >> "$QMON_LOG" &
	QMON_CAT=$!
	QMON_ARGS=(-chardev "pipe,id=qmon,path=$QMON_DIR/mon" -mon chardev=qmon,mode=readline)
}

qmon_stop() { # the reader, should QEMU never have opened the FIFOs
	[ -n "${QMON_CAT:-}" ] && kill "$QMON_CAT" 2>/dev/null
	QMON_CAT=
}

# qmon CMD [SECONDS]: runs a monitor command and prints its output (without prompts and echo);
# status 1 when the monitor did not answer within SECONDS (default 10): QEMU's main loop, or the
# vCPU the command needs, is stuck.
qmon() {
	local before after waited=0 limit=$((${2:-10} * 10))
	before=$(stat -c %s "$QMON_LOG")
	# QEMU holds the FIFO open, so the open does not block while QEMU lives
	timeout 5 bash -c 'printf "%s\n" "$1" > "$2"' _ "$1" "$QMON_DIR/mon.in" || return 1
	while :; do
		sleep 0.1
		waited=$((waited + 1))
		after=$(stat -c %s "$QMON_LOG")
		# the answer is complete when the next prompt follows it
		if [ "$after" -gt "$before" ] && tail -c +$((before + 1)) "$QMON_LOG" | tr -d '\r' |
			sed '1d' | grep -q '^(qemu) '; then
			break
		fi
		[ $waited -lt $limit ] || return 1
	done
	# the first line is the echoed command; strip prompts, CRs and the readline escapes
	tail -c +$((before + 1)) "$QMON_LOG" | tr -d '\r' | sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' \
		-e '1d' -e '/^(qemu) /d'
}

# hostdiag_syms LOG: the test host's kernel symbols, for naming RIPs. The Debian package's
# System.map is a stub, so: TH_SYSTEM_MAP (an `nm -n` of the kernel's -dbg vmlinux) if set and
# present, relocated by the KASLR offset that init printed ("TESTHOST-SYMS _text=... kvm=...");
# modules (kvm, kvm_amd, vfio*) from their .ko files under $BUILD/testhost/kernel and the .text
# addresses init printed. Sets SYMS_MAP, SYMS_SLIDE (runtime minus link-time address),
# SYMS_MODS ("name=hexbase ...").
hostdiag_syms() {
	SYMS_MAP=
	SYMS_SLIDE=0
	SYMS_MODS=$(sed -n 's/.*TESTHOST-SYMS _text=[0-9a-f]* *//p' "$1" | head -n 1)
	local text link
	[ -n "${TH_SYSTEM_MAP:-}" ] && [ -s "$TH_SYSTEM_MAP" ] || return 0
	text=$(sed -n 's/.*TESTHOST-SYMS _text=\([0-9a-f]*\).*/\1/p' "$1" | head -n 1)
	link=$(awk '$3 == "_text" { print $1; exit }' "$TH_SYSTEM_MAP")
	[ -n "$text" ] && [ -n "$link" ] || return 0
	SYMS_MAP=$TH_SYSTEM_MAP
	SYMS_SLIDE=$((0x$text - 0x$link))
	SYMS_TEXT=$link
	SYMS_ETEXT=$(awk '$3 == "_etext" { print $1; exit }' "$TH_SYSTEM_MAP")
}

# sym_lookup FILE HEXADDR: "symbol+0xoff" from "ADDR TYPE NAME" lines sorted by address
sym_lookup() {
	# 16 hex digits on both sides: string order is numeric order, no 64-bit arithmetic in awk
	awk -v a="$2" '$2 ~ /^[tT]$/ && $1 "" <= a "" { s = $3; b = $1 } $1 "" > a "" { exit }
		END { if (s != "") print s, b }' "$1" | {
		read -r s b || return 0
		printf '%s+0x%x' "$s" $((0x$2 - 0x$b))
	}
}

hostdiag_sym() { # hostdiag_sym HEX: "symbol+0xoff", "[module] symbol+0xoff", or nothing
	local a m base ko best= bestoff=
	for m in $SYMS_MODS; do # the module whose .text starts closest below the address
		base=${m#*=}
		[ $((0x$1 - 0x$base)) -ge 0 ] && [ $((0x$1 - 0x$base)) -lt $((16 << 20)) ] || continue
		if [ -z "$bestoff" ] || [ $((0x$1 - 0x$base)) -lt "$bestoff" ]; then
			best=${m%%=*}
			bestoff=$((0x$1 - 0x$base))
		fi
	done
	if [ -n "$best" ]; then
		ko=$(find "${BUILD:-build}/testhost/kernel/lib/modules" -name "$best.ko" -o -name "${best//_/-}.ko" 2>/dev/null | head -n 1)
		[ -n "$ko" ] || return 0
		printf -v a '%016x' "$bestoff"
		objdump -t "$ko" | awk '$4 == ".text" && $3 == "F" { print $1, "t", $6 }' | sort > "$QMON_DIR/mod.syms"
		printf '[%s] %s' "$best" "$(sym_lookup "$QMON_DIR/mod.syms" "$a")"
		return 0
	fi
	[ -n "$SYMS_MAP" ] || return 0
	printf -v a '%016x' $((0x$1 - SYMS_SLIDE))
	if [[ $a < $SYMS_TEXT || $a > $SYMS_ETEXT ]]; then
		printf 'not test-host kernel text: a ptvm guest?'
		return 0
	fi
	sym_lookup "$SYMS_MAP" "$a"
}

thread_ticks() { # thread_ticks /proc/PID/task/TID: "TID<tab>utime+stime<tab>name" (clock ticks)
	local st name
	st=$(cat "$1/stat" 2>/dev/null) || return 0
	name=${st#*(}
	name=${name%)*}
	set -- ${st##*) }
	echo "${st%% *}	$((${12} + ${13}))	$name"
}

# hang_diagnose LOG QEMU-PID: what the hung test host's CPUs do, into LOG (and a summary on
# stdout); ends with an NMI to every CPU.
hang_diagnose() {
	local log=$1 pid=$2 out round cpu rip sym
	hostdiag_syms "$log"
	# CPU time of each QEMU thread over one second: which vCPU threads spin
	local t ticks0=() ticks1=()
	for t in /proc/"$pid"/task/*; do
		ticks0+=("$(thread_ticks "$t")")
	done
	sleep 1
	for t in /proc/"$pid"/task/*; do
		ticks1+=("$(thread_ticks "$t")")
	done
	printf '%s\n' "${ticks0[@]}" "--" "${ticks1[@]}" | awk '
		$0 == "--" { second = 1; next }
		!second { split($0, f, "\t"); t0[f[1]] = f[2]; next }
		{ split($0, f, "\t"); if (f[1] in t0 && f[2] - t0[f[1]] >= 20)
			printf "%s %d%%, ", f[3], f[2] - t0[f[1]] }' |
		sed 's/, $//; s/^/testhost: hang diagnosis: QEMU threads busy over 1 s: /; s/$/\n/' | tee -a "$log"
	for round in 1 2; do
		if ! out=$(qmon "info registers -a" 10); then
			echo "testhost: hang diagnosis: the QEMU monitor did not answer 'info registers -a' in 10 s (a vCPU thread stuck inside QEMU)"
			echo "HOST: monitor silent for 'info registers -a'" >> "$log"
			break
		fi
		{
			echo "HOST: info registers -a (round $round):"
			printf '%s\n' "$out" | sed 's/^/  /'
		} >> "$log"
		# one summary line per CPU: "CPU#n" starts its block
		printf '%s\n' "$out" | awk '
			/^CPU#/ { cpu = $1 }
			/^RIP=/ { rip = substr($1, 5); fl = $0; sub(/.*RFL=/, "", fl); sub(/ .*/, "", fl) }
			/ CPL=/ { cpl = $0; sub(/.* CPL=/, "", cpl); sub(/ .*/, "", cpl) }
			/ HLT=/ { hlt = $0; sub(/.* HLT=/, "", hlt); sub(/ .*/, "", hlt)
				print cpu, rip, fl, cpl, hlt }' |
			while read -r cpu rip fl cpl hlt; do
				sym=$(hostdiag_sym "$rip")
				printf 'testhost: hang diagnosis %d: %s RIP=%s%s CPL=%s IF=%d HLT=%s\n' \
					"$round" "$cpu" "$rip" "${sym:+ ($sym)}" "$cpl" $(((0x$fl >> 9) & 1)) "$hlt"
			done | tee -a "$log"
		sleep 1
	done
	for cpu in $(printf '%s\n' "$out" | sed -n 's/^CPU#\([0-9]*\).*/\1/p'); do
		qmon "cpu $cpu" 5 > /dev/null || break
		out=$(qmon "info lapic" 5) || break
		{
			echo "HOST: info lapic, CPU $cpu:"
			printf '%s\n' "$out" | sed 's/^/  /'
		} >> "$log"
		printf '%s\n' "$out" | grep -E '^(ISR|IRR|ICR)' | tr '\n' ' ' |
			sed "s/^/testhost: hang diagnosis: CPU#$cpu lapic /; s/ *\$/\n/"
	done
	echo "testhost: hang diagnosis: NMI to every CPU (the test host panics with every CPU's backtrace if its kernel still runs)"
	echo "HOST: nmi" >> "$log"
	qmon nmi 5 > /dev/null
}
