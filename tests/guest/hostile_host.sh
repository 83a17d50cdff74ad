# The host side of the hostile-guest suite (guest/hostile_*.c), sourced by tests/guest/run.sh
# and by the test host's guest suite. Each program announces its attacks on the serial console
# ("ATTACK <name>" lines) and checks from inside that ptvm still runs and every attacked device
# works again; the host side checks what the guest cannot see: ptvm's stderr stayed bounded,
# at most HOSTILE_LOG_LINES lines per attack. Under tests/guest/run.sh the console is $serial
# and ptvm's stderr $log (the total is checked); in the test host both are merged, in order,
# into $log (each attack's share is checked too).

HOSTILE_LOG_LINES=100

# hostile_console: the file with the guest's serial console ($serial, or the merged $log)
hostile_console() {
	if [ -n "${serial:-}" ] && [ -f "$serial" ]; then
		echo "$serial"
	else
		echo "$log"
	fi
}

# hostile_log_bounded NAME: 0, or $hook_reason and 1
hostile_log_bounded() {
	_out=$(hostile_console)
	_attacks=$(grep -c 'ATTACK ' "$_out")
	_lines=$(grep -c 'ptvm: ' "$log")
	if [ "$_attacks" -eq 0 ]; then
		hook_reason="the guest announced no attack (no ATTACK lines)"
		return 1
	fi
	if [ "$_lines" -gt $((_attacks * HOSTILE_LOG_LINES)) ]; then
		hook_reason="ptvm wrote $_lines log lines during $_attacks attacks (at most $HOSTILE_LOG_LINES each)"
		return 1
	fi
	[ "$_out" = "$log" ] || return 0
	# merged: each attack's own lines
	_worst=$(awk '/ATTACK / { a = $0; sub(/.*ATTACK /, "", a); next }
		/ptvm: / { n[a]++ }
		END { m = 0; w = ""; for (k in n) if (n[k] > m) { m = n[k]; w = k }; print m " " w }' "$log")
	if [ "${_worst%% *}" -gt "$HOSTILE_LOG_LINES" ]; then
		hook_reason="ptvm wrote ${_worst%% *} log lines during attack ${_worst#* } (at most $HOSTILE_LOG_LINES)"
		return 1
	fi
}

# hostile_need_root NAME: the program's virtio-net needs a tap, which ptvm creates as root
hostile_need_root() {
	if [ "$(id -u)" != 0 ]; then
		hook_reason="needs root: ptvm creates the tap of its virtio-net"
		return 77
	fi
	if [ ! -c /dev/net/tun ]; then
		hook_reason="/dev/net/tun missing"
		return 77
	fi
}

# hostile_virtio_setup NAME: the programs that attack every virtio device get one of each in
# $HOSTILE_VIRTIO: a disk image, a tap (ptvm creates it and removes it when it exits), the
# virtio console, rng and balloon
hostile_virtio_setup() {
	hostile_need_root || return $?
	HOSTILE_DISK=${GUEST_TMP:-/tmp}/$1.img
	HOSTILE_VIRTIO="--disk path=$HOSTILE_DISK --net tap=ptvmh$$ --console virtio --rng --balloon"
	export HOSTILE_VIRTIO
	if ! dd if=/dev/zero of="$HOSTILE_DISK" bs=65536 count=16 2>/dev/null; then
		hook_reason="cannot create $HOSTILE_DISK"
		return 1
	fi
}

hostile_virtio_cleanup() {
	rm -f "$HOSTILE_DISK"
}

# the programs that attack every virtio device
for _p in status queues msix bars pcicfg ports; do
	eval "host_pre_hostile_$_p() { hostile_virtio_setup hostile_$_p; }"
	eval "host_post_hostile_$_p() { hostile_log_bounded hostile_$_p; }"
	eval "host_cleanup_hostile_$_p() { hostile_virtio_cleanup; }"
done

host_post_hostile_balloon() { hostile_log_bounded hostile_balloon; }

# hostile_uart: ptvm's stdin is a FIFO that gets HOSTILE_UART_TOKENS tokens "%08d " at once
HOSTILE_UART_TOKENS=600
host_pre_hostile_uart() {
	HOSTILE_UART_CMDLINE=""
	HOSTILE_UART_FIFO=${GUEST_TMP:-/tmp}/hostile_uart.fifo
	HOSTILE_UART_WRITER=""
	export HOSTILE_UART_CMDLINE
	rm -f "$HOSTILE_UART_FIFO"
	if ! command -v mkfifo >/dev/null || ! mkfifo "$HOSTILE_UART_FIFO"; then
		return 0 # the guest then runs the output attacks only
	fi
	# blocks until ptvm's stdin opens the FIFO, writes everything, closes (EOF)
	awk -v n="$HOSTILE_UART_TOKENS" 'BEGIN { for (i = 0; i < n; i++) printf "%08d ", i }' \
		>"$HOSTILE_UART_FIFO" &
	HOSTILE_UART_WRITER=$!
	GUEST_STDIN=$HOSTILE_UART_FIFO
	HOSTILE_UART_CMDLINE="tokens=$HOSTILE_UART_TOKENS"
	export GUEST_STDIN
}
host_post_hostile_uart() {
	# the input attack ran when this side fed it (the guest skips it otherwise)
	if [ -n "$HOSTILE_UART_CMDLINE" ] && ! grep -q 'CHECK input flood' "$(hostile_console)"; then
		hook_reason="the guest did not report the input flood it was fed"
		return 1
	fi
	hostile_log_bounded hostile_uart
}
host_cleanup_hostile_uart() {
	if [ -n "$HOSTILE_UART_WRITER" ]; then
		kill "$HOSTILE_UART_WRITER" 2>/dev/null
		wait "$HOSTILE_UART_WRITER" 2>/dev/null
	fi
	rm -f "$HOSTILE_UART_FIFO"
	unset GUEST_STDIN
}
