"""A small initramfs built in Dom0 from Dom0's own files: an ``/init`` script, a few tools
with the libraries ``ldd`` names (each at its own path, where the loader looks without
help), and kernel modules with their dependencies in load order (``/xenaccept/mod/order``,
loaded by ``/init`` with insmod). Nothing is taken from Dom0's initrd, so its format and
its module selection (a targeted ``MODULES=dep`` initrd lacks the Xen front-ends) do not
matter.

Used for the guests' payload and for the driver domain's boot (its root on ``/dev/xvda``).
The driver domain's also carries the kernel's own files its system needs (modules with
their indexes and firmware, the kernel's config) below ``/xenaccept/kernel``: everything
that belongs to one kernel is in its initramfs, so another kernel needs only another one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from xenaccept.errors import HarnessError
from xenaccept.transport.runner import Runner

# $1 work dir, $2 kernel release, $3 output, $4 modules (space-separated), $5 the modules
# of the system it boots (space-separated; those after --optional only when the kernel has
# them as modules; empty: none), then the tools; /init on stdin, then any other file after a
# line "#@xenaccept-file /its/path". Prints the number of the system's modules, then the
# archive's size in kB.
BUILD = r"""set -e
w=$1; rel=$2; out=$3; mods=$4; kmods=$5; shift 5
[ -d "/lib/modules/$rel" ] || { echo "Dom0 has no modules for the kernel $rel" >&2; exit 3; }
rm -rf "$w"; mkdir -p "$w/xenaccept/bin" "$w/xenaccept/mod" "$w/dev" \
    "$w/proc" "$w/sys" "$w/tmp" "$w/bin" "$w/root"
f="$w/init"; : > "$f"
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
    "#@xenaccept-file /"*) f="$w${line#"#@xenaccept-file "}"; mkdir -p "${f%/*}"; : > "$f"
                           chmod 755 "$f"; continue ;;
    esac
    printf '%s\n' "$line" >> "$f"
done
chmod 755 "$w/init"
mknod "$w/dev/console" c 5 1
mknod "$w/dev/null" c 1 3  # the guests' init sends ping's output there
for t in "$@"; do
    p=$(command -v "$t") || { echo "Dom0 has no $t" >&2; exit 3; }
    cp -L "$p" "$w/xenaccept/bin/$t"
    ldd "$p" | while read -r a b c d; do
        case "$b" in
            "=>") [ -e "$c" ] && mkdir -p "$w${c%/*}" && cp -L "$c" "$w$c" ;;
            *) case "$a" in /*) mkdir -p "$w${a%/*}"; cp -L "$a" "$w$a" ;; esac ;;
        esac
    done
done
ln -s ../xenaccept/bin/dash "$w/bin/sh"
ln -s kmod "$w/xenaccept/bin/insmod"
for m in $mods; do
    modprobe --set-version "$rel" --show-depends "$m" | while read -r kind path rest; do
        [ "$kind" = insmod ] || continue
        grep -qx "${path##*/}" "$w/xenaccept/mod/order" 2>/dev/null && continue
        cp "$path" "$w/xenaccept/mod/"; echo "${path##*/}" >> "$w/xenaccept/mod/order"
    done
done
[ -s "$w/xenaccept/mod/order" ] || echo "" > "$w/xenaccept/mod/order"
# the system's modules with their dependencies (as modprobe resolves them for $rel), their
# firmware, the index files depmod reads, the kernel's config; depmod then writes the
# indexes for just these
k="$w/xenaccept/kernel"; want=; opt=; n=0
for m in $kmods; do
    if [ "$m" = --optional ]; then opt=1
    elif [ -z "$opt" ] || modinfo -k "$rel" -F filename "$m" 2>/dev/null | grep -q '^/'; then
        want="$want $m"
    fi
done
if [ -n "$want" ]; then
    files=$(modprobe --set-version "$rel" --show-depends -a $want |
            awk '$1 == "insmod" {print $2}' | sort -u)
    fw=$(for m in $want; do modinfo -k "$rel" -F firmware "$m" 2>/dev/null; done | sort -u)
    mkdir -p "$k"
    {
        for f in $files; do echo "${f#/}"; done
        for f in $fw; do [ -e "/lib/firmware/$f" ] && echo "lib/firmware/$f"; done
        for f in modules.order modules.builtin modules.builtin.modinfo; do
            [ -e "/lib/modules/$rel/$f" ] && echo "lib/modules/$rel/$f"
        done
        [ -e "/boot/config-$rel" ] && echo "boot/config-$rel"
    } | (cd / && cpio -p -d -m --quiet "$k")
    depmod -b "$k" "$rel"
    n=$(echo "$files" | grep -c . || true)
fi
echo "$n"
(cd "$w" && find . | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$w"
du -k "$out" | cut -f1
"""


def stdin_of(init: str, files: Mapping[str, str] | None = None) -> str:
    """What the build reads on its standard input: /init, then each other file."""
    return init + "".join(f"\n#@xenaccept-file {p}\n{text}" for p, text in (files or {}).items())


def build(dom0: Runner, release: str, path: str, init: str, tools: Sequence[str],
          modules: Sequence[str], *, what: str, files: Mapping[str, str] | None = None) -> int:
    """Build the archive at ``path`` in Dom0 (its directory exists), with ``files`` (absolute
    path in the archive -> text, made executable) beside /init; returns its size in kB."""
    r = dom0.run("sh", "-c", BUILD, "sh", f"{path}.stage", release, path, " ".join(modules),
                 "", *tools, stdin=stdin_of(init, files), mutates=True, timeout=300)
    if not r.ok:
        raise HarnessError(f"building {what} in Dom0 failed: {r.describe()}")
    return int(r.stdout.split()[-1])
