#!/usr/bin/env bash
# Set up a fresh Debian machine for healcrew: system packages, the Docker engine, the Python
# environment and the sandbox base image. Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step_done() { echo "bootstrap: $1 ready ($((SECONDS - started)) s)"; started=$SECONDS; }

need_pkgs=()
for pair in dockerd:docker.io debootstrap:debootstrap bwrap:bubblewrap \
            prometheus-alertmanager:prometheus-alertmanager prometheus:prometheus git:git make:make \
            chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_pkgs+=("${pair##*:}")
done
# The screenshot tests render the PR and report.html in headless Chromium; emoji need a font to show.
dpkg-query -W -f='${Status}' fonts-noto-color-emoji 2>/dev/null | grep -q "install ok installed" \
  || need_pkgs+=(fonts-noto-color-emoji)
if ((${#need_pkgs[@]})); then
  if [ "$(id -u)" -ne 0 ]; then echo "bootstrap: need root to install: ${need_pkgs[*]}" >&2; exit 2; fi
  echo "bootstrap: installing ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
step_done "Debian packages"

# The Docker engine: no bridge network, nothing touches iptables (DESIGN §4-5).
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then echo "bootstrap: no Docker engine and not root to start one" >&2; exit 2; fi
  mkdir -p .healcrew
  echo "bootstrap: starting dockerd"
  nohup dockerd --bridge=none --iptables=false --ip-masq=false >.healcrew/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start (see .healcrew/dockerd.log)" >&2; exit 2; }
fi
step_done "Docker engine"

make install
step_done "Python environment (.venv)"
# The default base image (bookworm, Python 3.11). Others (3.9 bullseye, 3.13 trixie) are built the first
# time a repository needs them; list them in HEALCREW_PYTHONS (e.g. "3.9 3.13") to build them now.
.venv/bin/healcrew sandbox build-image
for py in ${HEALCREW_PYTHONS:-}; do
  .venv/bin/healcrew sandbox build-image --python "$py"
done
step_done "sandbox base image"

# The healcrew image itself (deploy/Dockerfile), built from a wheelhouse with no network in the build.
PYTHON=.venv/bin/python bash deploy/build-image.sh
step_done "healcrew image"
