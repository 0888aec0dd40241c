#!/bin/sh
# Installs the Debian packages a make target needs, if any is missing.
# Usage: scripts/deps.sh PACKAGE...   (apt-get as root; otherwise says what to install)
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "herd: missing Debian packages:$missing" >&2
    echo "herd: install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "herd: installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
