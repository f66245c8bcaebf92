#!/bin/bash
# `make vmtest`: runs the BPF-loading test packages on real Debian kernels under qemu (software
# emulation; no KVM needed), one VM at a time, and prints a per-kernel summary.
#
#   1. installs qemu-system-x86, busybox-static and cpio with apt when missing (needs root);
#   2. downloads each kernel once into $VMTEST_CACHE (outside the checkout, so a fresh CI clone
#      reuses it; default ${XDG_CACHE_HOME:-$HOME/.cache}/otelsec/vmtest);
#   3. builds the test binaries (CGO_ENABLED=0 go test -c; the BPF objects are embedded);
#   4. boots each kernel once with every test binary in it; guest output goes to the terminal
#      and to _build/vmtest/KERNEL.log.
#
# Environment:
#   VMTEST_KERNELS   kernels to run, by name (default: "6.1 6.12 7")
#   VMTEST_PKGS      packages to test (default: "./internal/sensor ./internal/kernel ./internal/enforce")
#   VMTEST_RUN       -test.run regexp (default: all tests)
#   VMTEST_COUNT     -test.count (default 1; more to hunt a flaky test)
#   VMTEST_TEST_TIMEOUT  -test.timeout per test binary (default 600s)
#   VMTEST_SKIP      -test.skip regexp (default: TestPolicyLibrary, which reads policies/ from the
#                    source tree, absent in the guest, and needs no kernel: make test runs it)
#   VMTEST_CACHE     kernel cache directory
#   VMTEST_TIMEOUT   seconds per boot before it counts as failed (default 900)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
here=$PWD/vmtest
GO=${GO:-go}

# name  package  suite  expected release prefix
KERNEL_TABLE="
6.1   linux-image-cloud-amd64       bookworm-security  6.1.
6.12  linux-image-6.12-cloud-amd64  bookworm-security  6.12.
7     linux-image-cloud-amd64       trixie-backports   7.
"
kernels=${VMTEST_KERNELS:-6.1 6.12 7}
pkgs=${VMTEST_PKGS:-./internal/sensor ./internal/kernel ./internal/enforce}
if [ -n "${VMTEST_CACHE:-}" ]; then cache=$VMTEST_CACHE
elif [ -n "${XDG_CACHE_HOME:-}${HOME:-}" ]; then cache=${XDG_CACHE_HOME:-$HOME/.cache}/otelsec/vmtest
else cache=/var/cache/otelsec-vmtest; fi
logs=$PWD/_build/vmtest
t_start=$SECONDS
phase() { echo "vmtest: $* (+$((SECONDS - t_start))s)"; }

# 1. host tools
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "make vmtest: missing ${missing[*]}; install them: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  phase "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

# 2. kernels
declare -A vmlinuz
for k in $kernels; do
  read -r _ pkg suite prefix < <(awk -v k="$k" '$1==k' <<<"$KERNEL_TABLE") || true
  [ -n "${pkg:-}" ] || { echo "make vmtest: unknown kernel '$k' (known: $(awk 'NF{printf "%s ", $1}' <<<"$KERNEL_TABLE"))" >&2; exit 1; }
  [ -n "$(ls "$cache/$k"/boot/vmlinuz-* "$cache/$k"/usr/lib/modules/*/vmlinuz* 2>/dev/null)" ] ||
    phase "downloading kernel $k ($pkg from $suite) into $cache/$k"
  path=$("$here"/fetch-kernel.sh "$pkg" "$cache/$k" "$suite")
  rel=$(basename "$(dirname "$path")")           # usr/lib/modules/RELEASE/vmlinuz
  [[ $path == */boot/vmlinuz-* ]] && rel=${path##*/vmlinuz-}
  [[ $rel == "$prefix"* ]] || { echo "make vmtest: kernel $k: got $rel from $pkg/$suite, expected $prefix*" >&2; exit 1; }
  vmlinuz[$k]=$path
done

# 3. test binaries
bindir=$(mktemp -d); trap 'rm -rf "$bindir"' EXIT
bins=()
phase "building test binaries for $pkgs"
for p in $pkgs; do
  out=$bindir/$(basename "$p").test
  CGO_ENABLED=0 $GO test -c -o "$out" "$p"
  bins+=("$out")
done

export VMTEST_TIMEOUT=${VMTEST_TIMEOUT:-900}

# 4. one VM at a time: TCG on 2 cores has no room for two
args=(-test.v -test.count="${VMTEST_COUNT:-1}" -test.timeout="${VMTEST_TEST_TIMEOUT:-600s}")
[ -n "${VMTEST_RUN:-}" ] && args+=(-test.run "$VMTEST_RUN")
skip=${VMTEST_SKIP-TestPolicyLibrary}
[ -n "$skip" ] && args+=(-test.skip "$skip")
mkdir -p "$logs"
declare -A result secs detail
fail=0
for k in $kernels; do
  phase "kernel $k: booting ${vmlinuz[$k]#"$cache"/}"
  t0=$SECONDS
  retried=""
  for attempt in 1 2; do
    set +e
    VMTEST_KERNEL=${vmlinuz[$k]} "$here"/vmtest.sh --all "${bins[@]}" -- "${args[@]}" 2>&1 | tee "$logs/$k.log"
    rc=${PIPESTATUS[0]}
    set -e
    # A guest kernel that oopses or panics before the tests report (seen once on 7.x under TCG,
    # in int3 text patching while programs attach) is retried once; its log is kept. A test
    # failure (the tests reported) is never retried.
    if [ "$attempt" -eq 1 ] && [ "$rc" -eq 99 ] && grep -qE 'Kernel panic|Oops:|BUG:' "$logs/$k.log"; then
      cp "$logs/$k.log" "$logs/$k.crash.log"
      phase "kernel $k: the guest crashed before reporting (log kept in ${logs#"$PWD"/}/$k.crash.log); retrying once"
      retried=" (retried after a guest crash)"
      continue
    fi
    break
  done
  secs[$k]=$((SECONDS - t0))
  release=$(sed -n 's/^VMTEST-INIT .*kernel=\([^ ]*\).*/\1/p' "$logs/$k.log" | head -1)
  per=$(sed -n 's/^VMTEST-RESULT \([^ ]*\)\.test rc=\([0-9]*\) secs=\([0-9.]*\).*/\1:\2:\3/p' "$logs/$k.log" |
    awk -F: '{printf "%s %s (%ss)  ", $1, ($2==0 ? "ok" : "FAIL rc=" $2), $3}')
  case $rc in
    0) result[$k]=PASS ;;
    99) result[$k]=FAIL; per="no result: boot failure, panic or timeout" ;;
    *) result[$k]=FAIL ;;
  esac
  [ "$rc" -eq 0 ] || fail=1
  detail[$k]="${release:-?}  $per$retried"
done

echo
echo "=== vmtest summary (logs in ${logs#"$PWD"/}/)"
for k in $kernels; do
  printf '%-5s %-4s %4ss  %s\n' "$k" "${result[$k]}" "${secs[$k]}" "${detail[$k]}"
  # the process sensor's view of the kernel, from TestKernel's log
  sed -n 's/.*kernels_test.go:[0-9]*: kernel [^ ]*: capabilities \({[^}]*}\).*/      capabilities \1/p' "$logs/$k.log" | head -1
  sed -n 's/^    --- \([A-Z]*\): TestKernel\/\([^ ]*\) .*/\2 \1/p' "$logs/$k.log" | tr '\n' ' ' |
    sed 's/^./      TestKernel: &/; s/ $/\n/'
  grep -F FAIL: "$logs/$k.log" | sed 's/^ */      /' | head -20 || true
done
echo "vmtest: total $((SECONDS - t_start))s"
exit "$fail"
