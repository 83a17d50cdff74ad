#!/bin/bash
# Checks that build/ptvm carries the build hardening of issue 8, read from the binary itself:
# a PIE, a GOT made read-only at start-up (GNU_RELRO + BIND_NOW), a non-executable stack,
# fortified libc calls (__*_chk imports), and every compile unit built with
# -fstack-protector-strong, -fstack-clash-protection and -fPIE (gcc records its -f options in
# each unit's DW_AT_producer). One PASS/FAIL line per property, then a summary line.
#
# usage: tests/sandbox/hardening.sh [PTVM]
set -u
PTVM=${1:-build/ptvm}
pass=0
fail=0
check() { # NAME CONDITION-STATUS DETAIL
	if [ "$2" = 0 ]; then
		echo "PASS hardening-$1"
		pass=$((pass + 1))
	else
		echo "FAIL hardening-$1: $3"
		fail=$((fail + 1))
	fi
}

if [ ! -x "$PTVM" ]; then
	echo "FAIL hardening-setup: $PTVM is missing (make)"
	echo "hardening: 0 passed, 1 failed"
	exit 1
fi

readelf -hW "$PTVM" | grep -q 'Type:.*DYN'
check pie $? "not a position-independent executable (readelf -h: $(readelf -hW "$PTVM" | grep Type:))"

readelf -lW "$PTVM" | grep -q GNU_RELRO
check relro $? "no GNU_RELRO segment (-Wl,-z,relro)"

readelf -dW "$PTVM" | grep -Eq '\(FLAGS\).*BIND_NOW|FLAGS_1.*NOW'
check bind-now $? "no BIND_NOW (-Wl,-z,now): the GOT stays writable"

readelf -lW "$PTVM" | grep GNU_STACK | grep -qv RWE
check nx-stack $? "executable stack"

# A dynamic ptvm imports the checking functions. A static PIE (the arm64 cross build) has libc
# inside: a static link takes a fortified function in only where ptvm calls one, but libc itself
# always has __stack_chk_fail, so there the units' -fstack-protector-strong below is the proof.
if readelf -dW "$PTVM" | grep -q '(NEEDED)'; then
	nm -D "$PTVM" | grep -q ' U __stack_chk_fail'
	check stack-protector-used $? "no __stack_chk_fail import"
	nm -D "$PTVM" | grep -Eq ' U __(memcpy|snprintf|read|vsnprintf|fprintf)_chk'
else
	echo "SKIP hardening-stack-protector-used: $PTVM is static (its libc defines __stack_chk_fail anyway)"
	nm "$PTVM" | grep -Eq ' [TtWw] __(memcpy|snprintf|read|vsnprintf|fprintf)_chk$'
fi
check fortify $? "no fortified libc call (__*_chk): -D_FORTIFY_SOURCE missing"

# every unit of ptvm's own sources (vmm/ devices/ iommu/): their producer strings
units=$(readelf --debug-dump=info "$PTVM" 2>/dev/null | awk '
	/DW_TAG_compile_unit/ { prod = ""; name = ""; cu = 1; next }
	cu && /DW_AT_producer/ { sub(/.*\): /, ""); prod = $0 }
	cu && /DW_AT_name/ { sub(/.*\): /, ""); name = $0 }
	cu && prod != "" && name != "" { print name "\t" prod; cu = 0 }')
ours=$(printf '%s\n' "$units" | grep -E '^(vmm|devices|iommu)/')
nours=$(printf '%s\n' "$ours" | grep -c .)
[ "$nours" -gt 10 ]
check units-found $? "only $nours compile units of vmm/ devices/ iommu/ in the debug info"
for flag in -fstack-protector-strong -fstack-clash-protection -fPIE; do
	bad=$(printf '%s\n' "$ours" | grep -v -- "$flag" | cut -f1 | tr '\n' ' ')
	[ -z "$bad" ]
	check "unit${flag}" $? "built without $flag: $bad"
done

echo "hardening: $pass passed, $fail failed"
[ "$fail" = 0 ]
