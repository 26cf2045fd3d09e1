#!/usr/bin/env sh
# Debian's Chromium and ChromeDriver for the gallery's headless-browser test
# (tests/unittests/test_gallery_browser.py). Where they cannot be installed
# (no apt-get, no root), this says so and the test skips with that reason.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
if command -v apt-get >/dev/null 2>&1 &&
    $SUDO apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        chromium chromium-driver >/dev/null; then
    echo "installed Debian's chromium and chromium-driver"
else
    echo "could not install chromium and chromium-driver: the browser test will skip"
fi
exit 0
