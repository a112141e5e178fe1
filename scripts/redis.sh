#!/usr/bin/env bash
# A private redis-server for the tests, under the checkout, without root-wide changes.
#   ./scripts/redis.sh install          # fetch Debian's redis-server (+ the libraries it needs)
#                                       # into target/tools/redis; prints the redis-server path
#   ./scripts/redis.sh path             # the redis-server path (installs first if needed)
# Debian's packages are downloaded with `apt-get download` and unpacked with `dpkg -x`;
# only when that fails is `apt-get install -y redis-server` tried (then the system binary is used).
# The tests start and stop their own servers on free loopback ports (tests/clients/redisproc.py).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="${SCF_BRIDGE_TOOLS:-$PWD/target/tools}/redis"
BIN="$ROOT/bin/redis-server"

works() { [ -x "$1" ] && LD_LIBRARY_PATH="$ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$1" --version >/dev/null 2>&1; }

install() {
  if works "$BIN"; then return 0; fi
  local dl="$ROOT/.download"
  rm -rf "$dl" && mkdir -p "$dl/x" "$ROOT/bin" "$ROOT/lib"
  if (cd "$dl" && apt-get download redis-server redis-tools liblzf1 libjemalloc2 >/dev/null 2>&1); then
    for deb in "$dl"/*.deb; do dpkg -x "$deb" "$dl/x"; done
    cp -a "$dl/x/usr/bin/redis-check-rdb" "$ROOT/bin/redis-server"
    cp -a "$dl/x/usr/bin/redis-cli" "$ROOT/bin/redis-cli"
    cp -a "$dl"/x/usr/lib/x86_64-linux-gnu/liblzf.so* "$dl"/x/usr/lib/x86_64-linux-gnu/libjemalloc.so* "$ROOT/lib/" 2>/dev/null \
      || cp -a "$dl"/x/usr/lib/*/liblzf.so* "$dl"/x/usr/lib/*/libjemalloc.so* "$ROOT/lib/"
    rm -rf "$dl"
  fi
  if ! works "$BIN"; then
    echo "redis.sh: unpacking Debian's packages did not give a working redis-server; trying apt-get install" >&2
    if command -v redis-server >/dev/null 2>&1 || apt-get install -y redis-server >/dev/null; then
      ln -sf "$(command -v redis-server)" "$BIN"
      ln -sf "$(command -v redis-cli)" "$ROOT/bin/redis-cli"
    fi
  fi
  if ! works "$BIN"; then
    echo "redis.sh: no working redis-server (ldd says:)" >&2
    LD_LIBRARY_PATH="$ROOT/lib" ldd "$BIN" >&2 || true
    exit 1
  fi
}

case "${1:-path}" in
  install | path)
    install
    echo "$BIN"
    ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
