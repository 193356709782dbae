#!/usr/bin/env bash
# Install what the end-to-end tests need beyond the Python venv:
#   - Debian's prometheus (the server and promtool) for tests/observability;
#   - Debian's chromium (Playwright drives it via executable_path=/usr/bin/chromium, because
#     `npx playwright install` cannot download browsers here) plus a basic font set;
#   - the npm packages of the test OIDC provider in tests/support/oidc/ (from package-lock.json).
# Idempotent and fast when everything is already there; non-interactive; run as root (or with
# sudo available) on Debian 12. Only apt and the npm registry are contacted.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
oidc_dir="$repo_root/tests/support/oidc"

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
else
  sudo=(sudo -n)
fi

# --- Chromium and Prometheus -------------------------------------------------------------------------------
# prometheus: the real Prometheus (and promtool) the observability tests start and run.
apt_packages=(chromium fonts-liberation prometheus)
missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_test_deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  # --no-install-recommends: the recommends (upower, notification-daemon, ...) are desktop
  # pieces a headless browser does not need.
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
/usr/bin/chromium --version
promtool --version 2>&1 | sed -n 1p

# --- npm packages of the test OIDC provider ------------------------------------------------
command -v node >/dev/null || { echo "install_test_deps: node (Node.js 20+) is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "install_test_deps: npm is required" >&2; exit 1; }

# Skip npm when node_modules already matches the lockfile: npm writes
# node_modules/.package-lock.json on install, and we compare it against a stamp of the lockfile.
stamp="$oidc_dir/node_modules/.install-stamp"
lock_sum="$(cat "$oidc_dir/package.json" "$oidc_dir/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ] && [ -f "$oidc_dir/node_modules/oidc-provider/package.json" ]; then
  echo "install_test_deps: $oidc_dir/node_modules is up to date"
else
  cd "$oidc_dir"
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
  lock_sum="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
  echo "$lock_sum" > "$stamp"
fi
node -e "const p=require('$oidc_dir/node_modules/oidc-provider/package.json'); console.log('oidc-provider', p.version)"
echo "install_test_deps: done"
