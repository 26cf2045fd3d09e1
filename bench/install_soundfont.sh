#!/usr/bin/env sh
# Debian's FluidR3 SoundFont (package fluid-soundfont-gm), the training
# SoundFont of bench/accuracy.py's instrument rows. Where it cannot be
# installed (no apt-get, no root), this says so and exits with an error.
if [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
if command -v apt-get >/dev/null 2>&1 &&
    $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        fluid-soundfont-gm >/dev/null; then
    echo "installed Debian's fluid-soundfont-gm"
else
    echo "could not install fluid-soundfont-gm (/usr/share/sounds/sf2/FluidR3_GM.sf2)" >&2
    exit 1
fi
