#!/bin/bash
# usage: fetch-kernel.sh PACKAGE OUTDIR SUITE
#   Downloads a Debian kernel package from SUITE and extracts only its vmlinuz and config into
#   OUTDIR (nothing is installed). Prints the path of the vmlinuz. Does nothing when OUTDIR
#   already holds one.
#   PACKAGE: a metapackage or package, e.g. linux-image-cloud-amd64; metapackages are followed
#            to the versioned image (linux-image-6.1.0-NN-cloud-amd64), and on newer packaging
#            (7.x) one level further to linux-binary-*.
#   SUITE:   bookworm, bookworm-security, trixie-backports, ... It is read from the same mirror
#            as the machine's own Debian sources (the debian-security one for *-security), with
#            a private apt state in OUTDIR/../.apt-SUITE, so the result does not depend on the
#            machine's Debian release and its apt configuration is never touched.
set -euo pipefail
meta=$1 out=$2 suite=$3
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
found() { { ls "$1"/boot/vmlinuz-* "$1"/usr/lib/modules/*/vmlinuz* 2>/dev/null || true; } | head -1; }
if [ -n "$(found "$out")" ]; then found "$out"; exit 0; fi

uris() { # every deb URI of the machine's apt sources (deb822 and one-line formats)
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] && sed -n 's/^URIs: *//p' "$f" | tr ' ' '\n'
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] && awk '$1=="deb" {for (i=2; i<=NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f"
  done
  return 0
}
first() { awk -v re="$1" '$0 ~ re && !n++'; }  # reads all its input: no SIGPIPE under pipefail
mirror=$(uris | first '/debian/*$')
[ -n "$mirror" ] || { echo "fetch-kernel: cannot find a Debian mirror (…/debian) in the apt sources" >&2; exit 1; }
mirror=${mirror%/}
case $suite in
  *-security) sec=$(uris | first '/debian-security/*$'); mirror=${sec:-$mirror-security}; mirror=${mirror%/} ;;
esac

st=$(dirname "$out")/.apt-$suite
mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" > "$st/sources.list"
opts=(-o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st/cache" -o Dir::State::Status=/dev/null
      -o APT::Sandbox::User=root)
apt=(apt-get -q "${opts[@]}")
cache=(apt-cache "${opts[@]}")
# refresh the private lists at most once a day
if [ -z "$(find "$st/lists" -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null)" ]; then
  "${apt[@]}" update >&2
fi

pkg=$meta
dep=$("${cache[@]}" depends "$meta" 2>/dev/null | awk '/Depends: linux-(image|binary)-[0-9]/{print $2; exit}')
[ -n "$dep" ] && pkg=$dep
dep2=$("${cache[@]}" depends "$pkg" 2>/dev/null | awk '/Depends: linux-binary-[0-9]/{print $2; exit}')
[ -n "$dep2" ] && pkg=$dep2
echo "fetch-kernel: $meta from $suite -> $pkg" >&2
# Extract only the kernel image and its config, not the modules, into a scratch directory that
# becomes OUTDIR only when complete: an interrupted run leaves no half-written kernel behind.
tmp=$(mktemp -d "$out.partial.XXXXXX"); chmod 755 "$tmp"; trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "${apt[@]}" download "$pkg" >&2 &&
  { dpkg-deb --fsys-tarfile "$pkg"_*.deb | tar -x --wildcards './boot/vmlinuz-*' './boot/config-*' \
      './usr/lib/modules/*/vmlinuz*' './usr/lib/modules/*/config' 2>/dev/null || true; } &&
  ls "$pkg"_*.deb > package && rm -f "$pkg"_*.deb)
[ -n "$(found "$tmp")" ] || { echo "fetch-kernel: no vmlinuz in $pkg" >&2; exit 1; }
rm -rf "$out"; mv "$tmp" "$out"
found "$out"
