#!/usr/bin/env sh
# Installs Debian packages when a file they provide is missing:
#     sh tests/tools/apt_install.sh FILE PACKAGE...
# Used by `make test` (chromium and chromium-driver, for the gallery's
# headless-browser test, which skips without them) and `make accuracy`
# (fluid-soundfont-gm, the FluidR3 SoundFont). Exits 0 when FILE is there
# or the install worked, 1 when it could not install (no apt-get, no root).
FILE="$1"
shift
if [ -e "$FILE" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
if command -v apt-get >/dev/null 2>&1 &&
    $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null; then
    echo "installed Debian's $*"
else
    echo "could not install Debian's $* (for $FILE)" >&2
    exit 1
fi
