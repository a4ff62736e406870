#!/bin/sh
# Build an OCI bundle with a busybox rootfs (Debian's busybox-static).
# Usage: demo/make-bundle.sh DIR [ARGS...]  (ARGS become process.args)
# The config is `ocirt spec`'s (runc's template: an interactive sh on a
# terminal); with ARGS, the process runs without a terminal, so that
# `create` needs no --console-socket and output is not a pty's.
set -eu
dir=${1:?usage: make-bundle.sh DIR [ARGS...]}
shift
bb=/bin/busybox
[ -x "$bb" ] || { echo "make-bundle.sh: $bb missing: apt-get install busybox-static" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/proc" "$dir/rootfs/sys" \
         "$dir/rootfs/dev" "$dir/rootfs/tmp" "$dir/rootfs/root"
cp "$bb" "$dir/rootfs/bin/busybox"
for app in $("$bb" --list); do
    [ -e "$dir/rootfs/bin/$app" ] || ln -s busybox "$dir/rootfs/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
ocirt="${OCIRT:-ocirt}"
(cd "$dir" && "$ocirt" spec)
if [ $# -gt 0 ]; then
    python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
cfg = json.load(open(path))
cfg["process"]["args"] = args
cfg["process"]["terminal"] = False
json.dump(cfg, open(path, "w"), indent=2)
PY
fi
