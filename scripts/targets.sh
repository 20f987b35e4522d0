# SPDX-License-Identifier: GPL-2.0
# Shared definitions of the six kernel targets, sourced by the other scripts.
#
# A target name selects: the Debian kernel line, the flavour of its image
# and headers packages, the Linux ARCH and cross compiler, and how QEMU
# boots it.
#
# The list of targets below is the only one: the Makefile reads it with a
# sed of this one line, so keep it a single line of that form.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the T_* variables are for the sourcing scripts

COWSHARE_TARGETS="6.1-amd64 6.1-arm64 6.12-amd64 6.12-arm64 6.12-arm64-16k 6.12-rt-amd64"

# cowshare_root: the repository's top directory
cowshare_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COWSHARE_CACHE=${COWSHARE_CACHE:-$cowshare_root/build/cache}
COWSHARE_BUILD=${COWSHARE_BUILD:-$cowshare_root/build}

die() { echo "$(basename "$0"): $*" >&2; exit 2; }

# usage_block FILE: FILE's header comment, which is its --help text: the
# comment lines after the SPDX-License-Identifier line up to the first line
# that is not a comment, without their leading "# " (or "#") and without
# the empty lines before the text.
usage_block() {
	awk '/SPDX-License-Identifier/ { on = 1; next }
	on && !/^#/ { exit }
	on { sub(/^# ?/, ""); if ($0 != "" || text) { text = 1; print } }' "$1"
}

# tap_count LOG: "passed failed skipped" over the TAP result lines of LOG,
# at every level of nesting: run_kselftest.sh prints a line per program
# and nests each program's own results under it, prefixed "# ".
tap_count() {
	awk '
	/^(# )*(not )?ok [0-9]+/ {
		if ($0 ~ /^(# )*(not )?ok [0-9]+[^#]*# *[Ss][Kk][Ii][Pp]/) skip++
		else if ($0 ~ /^(# )*not ok/) fail++
		else pass++
	}
	END { printf "%d %d %d\n", pass, fail, skip }' "$1"
}

# target_parse TARGET: sets T_LINE (6.1|6.12), T_FLAVOUR (amd64, arm64,
# arm64-16k, rt-amd64), T_DEBARCH (amd64|arm64), T_ARCH (x86|arm64),
# T_CROSS (cross-compiler prefix or empty), T_CC (userspace compiler).
target_parse() {
	local t=$1
	case " $COWSHARE_TARGETS " in
	*" $t "*) ;;
	*) die "unknown target '$t' (known: $COWSHARE_TARGETS)" ;;
	esac
	T_NAME=$t
	T_LINE=${t%%-*}
	T_FLAVOUR=${t#*-}
	case $T_FLAVOUR in
	*arm64*)
		T_DEBARCH=arm64 T_ARCH=arm64 T_CROSS=aarch64-linux-gnu-
		T_CC=aarch64-linux-gnu-gcc ;;
	*)
		T_DEBARCH=amd64 T_ARCH=x86 T_CROSS=
		T_CC=gcc ;;
	esac
	T_DIR=$COWSHARE_CACHE/kernels/$t
	T_OUT=$COWSHARE_BUILD/$t
}

# target_vars: after target_parse, reads what setup resolved for the
# target: T_VERSION (package version), T_KDIR (headers), T_KIMAGE (vmlinuz).
target_vars() {
	[ -f "$T_DIR/target.env" ] || return 1
	# shellcheck disable=SC1091
	. "$T_DIR/target.env"
}
