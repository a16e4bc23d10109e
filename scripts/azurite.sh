#!/usr/bin/env bash
# Install Azurite (the Azure Storage emulator) from npm into .tools/azurite,
# pinned, once: the Table and Blob tests start it from there
# (internal/state/azurite). Re-running is a no-op unless the pin changed.
#
#   scripts/azurite.sh              install, or fail saying why
#   scripts/azurite.sh --optional   install if npm is here; otherwise warn and
#                                   go on (the tests then skip, saying why)
set -euo pipefail
cd "$(dirname "$0")/.."

version="${AZURITE_VERSION:-3.37.0}"
dir="${AZURITE_DIR:-.tools/azurite}"
pkg="$dir/node_modules/azurite/package.json"

installed=""
if [ -f "$pkg" ]; then
  installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg" | head -n1)"
fi
if [ "$installed" = "$version" ] && [ -x "$dir/node_modules/.bin/azurite-table" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  msg="azurite: npm is not installed, so Azurite $version cannot be installed into $dir (install Node.js 20+ and npm)"
  if [ "${1:-}" = "--optional" ]; then
    echo "$msg; the Table Storage tests will skip" >&2
    exit 0
  fi
  echo "$msg" >&2
  exit 1
fi

echo "azurite: installing azurite@$version into $dir"
mkdir -p "$dir"
npm install --no-audit --no-fund --loglevel=error --prefix "$dir" "azurite@$version"
