#!/usr/bin/env bash
# Installs a real Kubernetes API server for the tests (envtest style) and prints the directory
# to use as KUBEBUILDER_ASSETS: kube-apiserver, etcd and kubectl side by side.
#
#   export KUBEBUILDER_ASSETS=$(scripts/kube-test-env.sh)
#
# - kube-apiserver is built from the k8s.io/kubernetes module (v$K8S_VERSION) in a small wrapper
#   module that replaces each k8s.io staging module with its published v0.X version (that is how
#   k8s.io/kubernetes can be built outside its own repository; `go install` refuses it). The
#   first build takes ~450 s on 2 cores; the binary is cached under $OTELSEC_CACHE (default
#   $HOME/.cache/otelsec) and reused while it reports the wanted version.
# - etcd comes from Debian's etcd-server package (installed with apt when missing, as root).
# - kubectl is linked when it is on PATH (envtest only needs it for kubectl-based helpers).
#
# Environment: K8S_VERSION (default 1.35.4), OTELSEC_CACHE, GO (default go).
# Progress goes to stderr; stdout carries only the directory.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.35.4}
GO=${GO:-go}
cache=${OTELSEC_CACHE:-$HOME/.cache/otelsec}
dir=$cache/kube/v$K8S_VERSION
bin=$dir/bin
staging_version=v0.${K8S_VERSION#1.}  # 1.35.4 -> v0.35.4

log() { echo "kube-test-env: $*" >&2; }
fail() {
	echo "kube-test-env: FAIL: $*" >&2
	exit 1
}

mkdir -p "$bin"
# One build at a time, even when two test runs start together.
exec 9>"$dir/.lock"
flock 9

# --- etcd ---------------------------------------------------------------------------------
if ! command -v etcd >/dev/null; then
	[ "$(id -u)" -eq 0 ] || fail "etcd is missing; install it as root: apt-get install -y etcd-server"
	log "installing etcd-server with apt"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends etcd-server >&2 ||
		{ apt-get update >&2 && apt-get install -y --no-install-recommends etcd-server >&2; } ||
		fail "apt-get install etcd-server failed"
fi
ln -sf "$(command -v etcd)" "$bin/etcd"

# --- kubectl ------------------------------------------------------------------------------
if command -v kubectl >/dev/null; then
	ln -sf "$(command -v kubectl)" "$bin/kubectl"
fi

# --- kube-apiserver -----------------------------------------------------------------------
want="Kubernetes v$K8S_VERSION"
if [ -x "$bin/kube-apiserver" ] && [ "$("$bin/kube-apiserver" --version 2>/dev/null)" = "$want" ]; then
	echo "$bin"
	exit 0
fi

src=$dir/src
rm -rf "$src"
mkdir -p "$src"
cd "$src"
log "building kube-apiserver v$K8S_VERSION into $bin (first time only, ~450 s on 2 cores)"
start=$SECONDS

# k8s.io/kubernetes's own go.mod replaces every staging module with ./staging/src/...; the
# wrapper replaces the same modules with their published versions instead.
gomod=$("$GO" mod download -json "k8s.io/kubernetes@v$K8S_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || fail "could not download k8s.io/kubernetes@v$K8S_VERSION"
staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | sort -u)
n=$(echo "$staging" | wc -l)
[ "$n" -ge 20 ] || fail "found only $n staging replaces in $gomod"

{
	echo "module otelsec.test/kube-apiserver"
	echo
	echo "go 1.25.0"
	echo
	echo "require k8s.io/kubernetes v$K8S_VERSION"
	echo
	echo "replace ("
	for m in $staging; do echo "	$m => $m $staging_version"; done
	echo ")"
} >go.mod
log "wrapper module with $n staging replaces ($staging_version)"

GOFLAGS=-mod=mod "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" >&2
pkg=k8s.io/component-base/version
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
ldflags="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" build -trimpath -ldflags "$ldflags" -o "$bin/kube-apiserver.new" \
	k8s.io/kubernetes/cmd/kube-apiserver >&2
got=$("$bin/kube-apiserver.new" --version)
[ "$got" = "$want" ] || fail "built kube-apiserver reports '$got', want '$want'"
mv "$bin/kube-apiserver.new" "$bin/kube-apiserver"
log "built kube-apiserver in $((SECONDS - start)) s"
echo "$bin"
