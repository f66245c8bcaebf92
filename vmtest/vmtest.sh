#!/bin/bash
# Boots a kernel under qemu with Go test binaries in a busybox initramfs and reports their exit
# status read back from the serial console.
#
#   VMTEST_KERNEL=/path/vmlinuz vmtest.sh TESTBIN [ARGS...]
#       runs one binary; exits with its status. Usable as `go test -exec vmtest/vmtest.sh`.
#   VMTEST_KERNEL=/path/vmlinuz vmtest.sh --all BIN... -- [ARGS...]
#       one boot, each BIN in turn with the same ARGS; prints "VMTEST-RESULT NAME rc=N secs=S"
#       for each; exits 0 when all passed, 1 otherwise.
# Exits 99 when no result came back (boot failure, panic, timeout).
#
# The guest: busybox only, root, working directory /tmp (tmpfs); proc, sys, devtmpfs, bpf,
# tracefs, debugfs, cgroup2 (/sys/fs/cgroup) and securityfs mounted; bpf in the LSM list. The
# layout is usr-merged like Debian's (/bin -> usr/bin) and busybox's applets are hard links, so
# /bin/echo resolves to the regular file /usr/bin/echo as on a Debian host. Embed BPF objects
# and test data in the binaries.
# Environment: VMTEST_TIMEOUT (s, default 300), VMTEST_MEM (default 2G), VMTEST_SMP (default 2),
# VMTEST_ACCEL (default tcg,thread=single), VMTEST_QEMU_EXTRA (more qemu arguments).
# Single-threaded TCG: with multi-threaded TCG the guests' kernels (6.12, 7.3) oopsed on int3 in
# trace_syscall_exit while syscall tracepoints were switched on and off (cross-modifying code
# racing between emulated vCPUs: 4 guest panics in one CI run); one host thread runs both vCPUs
# in turn, slower and free of that race.
set -euo pipefail
KERNEL=${VMTEST_KERNEL:?set VMTEST_KERNEL to a vmlinuz}
TIMEOUT=${VMTEST_TIMEOUT:-300}
all=false bins=()
if [ "${1:-}" = --all ]; then
  all=true; shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do bins+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
else
  bins=("${1:?usage: vmtest.sh TESTBIN [ARGS...] | vmtest.sh --all BIN... -- [ARGS...]}"); shift
fi
[ ${#bins[@]} -gt 0 ] || { echo "vmtest: no test binary" >&2; exit 2; }
busybox=${VMTEST_BUSYBOX:-/bin/busybox}
if ldd "$busybox" >/dev/null 2>&1; then
  echo "vmtest: $busybox is dynamically linked; install busybox-static" >&2; exit 2
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/usr/{bin,sbin} "$root"/{dev,proc,sys,tmp,tests}
ln -s usr/bin "$root"/bin; ln -s usr/sbin "$root"/sbin
cp "$busybox" "$root"/usr/bin/busybox
names=()
for b in "${bins[@]}"; do
  n=$(basename "$b"); cp "$b" "$root/tests/$n"; names+=("$n")
done
cat > "$root"/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install /usr/bin; export PATH=/usr/bin:/usr/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf; mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug; mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t securityfs securityfs /sys/kernel/security
up() { cut -d' ' -f1 /proc/uptime; }
echo "VMTEST-INIT uptime=$(up) kernel=$(uname -r) lsm=$(cat /sys/kernel/security/lsm)"
cd /tmp; . /args
failed=0
for name in $(cat /tests.list); do
  t0=$(up)
  /tests/"$name" "$@"; rc=$?
  echo; echo "VMTEST-RESULT $name rc=$rc secs=$(awk -v a="$t0" -v b="$(up)" 'BEGIN{printf "%.1f", b-a}')"
  [ "$rc" -eq 0 ] || failed=$rc
done
echo "VMTEST-EXIT=$failed uptime=$(up)"
sync; poweroff -f
INIT
chmod +x "$root"/init
printf '%s\n' "${names[@]}" > "$root"/tests.list
{ printf 'set --'; printf " %q" "$@"; echo; } > "$root"/args   # test args, shell-quoted
(cd "$root" && find . | cpio -o -H newc -R 0:0 --quiet) > "$work"/initrd
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel "${VMTEST_ACCEL:-tcg,thread=single}" -cpu max -m "${VMTEST_MEM:-2G}" -smp "${VMTEST_SMP:-2}" \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  ${VMTEST_QEMU_EXTRA:-} -kernel "$KERNEL" -initrd "$work"/initrd \
  -append "console=ttyS0 quiet panic=-1 oops=panic lsm=lockdown,capability,landlock,yama,apparmor,bpf" \
  </dev/null | sed -u 's/\r$//' | tee "$work"/log || true
rc=$(sed -n 's/^VMTEST-EXIT=\([0-9]*\).*/\1/p' "$work"/log | tail -1)
[ -n "$rc" ] || { echo "vmtest: no exit marker (boot failure, panic or timeout after ${TIMEOUT}s)" >&2; exit 99; }
if $all; then [ "$rc" -eq 0 ] || exit 1; exit 0; fi
exit "$rc"
