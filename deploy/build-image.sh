#!/usr/bin/env bash
# Build the healcrew image (deploy/Dockerfile) with no network inside the build.
#
# On the host: the runtime dependencies' wheels (`pip wheel`, through pip's own index settings),
# cached per hash of pyproject.toml, so a re-run with the same pyproject.toml reuses them; healcrew's
# own wheel, rebuilt every time (the code changes more often than its dependencies); and git's Debian
# packages that the base image lacks (`apt-get download`, cached per base image). Then
# `docker build --network none` on a context holding only those, tagged healcrew/healcrew:<version>
# and :latest.
#
# Environment:
#   PYTHON       the host interpreter that builds the wheels; must be the base image's Python version
#                (default: .venv/bin/python, else python3)
#   BASE_IMAGE   the image to build on (default: healcrew/python-base:bookworm, `healcrew sandbox build-image`)
#   IMAGE        the repository to tag (default: healcrew/healcrew)
#   HEALCREW_CACHE  where the wheelhouse is kept (default: ~/.cache/healcrew)
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
BASE_IMAGE=${BASE_IMAGE:-healcrew/python-base:bookworm}
IMAGE=${IMAGE:-healcrew/healcrew}
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
say() { echo "build-image: $*"; }
die() { echo "build-image: $*" >&2; exit 2; }

docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
  || die "no base image $BASE_IMAGE; build it first: healcrew sandbox build-image"
version=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')

# The wheels must fit the image's Python.
host_py=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
image_py=$(docker run --rm --network none --entrypoint python3 "$BASE_IMAGE" \
  -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$host_py" = "$image_py" ] || die "$PYTHON is Python $host_py but $BASE_IMAGE has $image_py; set PYTHON"

cache=${HEALCREW_CACHE:-$HOME/.cache/healcrew}/image-build
key=$(sha256sum pyproject.toml | cut -c1-16)
deps="$cache/deps-py$host_py-$key"
if [ -f "$deps/.complete" ]; then
  say "reusing the wheelhouse $deps"
else
  say "building the wheelhouse (pyproject.toml changed or first build)"
  rm -rf "$deps" && mkdir -p "$deps/wheels" "$deps/tools"
  # setuptools and wheel, so healcrew's own wheel builds from this folder with no index afterwards.
  "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$deps/tools" setuptools wheel
  "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$deps/wheels" .
  rm -f "$deps"/wheels/healcrew-*.whl
  touch "$deps/.complete"
  # The wheelhouses of earlier pyproject.toml versions are of no further use.
  find "$cache" -mindepth 1 -maxdepth 1 -name 'deps-py*' ! -path "$deps" -exec rm -rf {} +
fi

# git and what it needs beyond the base image, from the host's apt (the base is debootstrapped from it).
base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE" | cut -d: -f2 | cut -c1-16)
debs="$cache/debs-$base_id"
if [ ! -f "$debs/.complete" ]; then
  say "fetching git's Debian packages"
  rm -rf "$debs" && mkdir -p "$debs"
  # Every package of git's dependency closure at apt's candidate version, less what the base image holds at
  # exactly that version (a newer point release, perl-base for one, comes along as an upgrade).
  have=$(docker run --rm --network none --entrypoint dpkg-query "$BASE_IMAGE" -W -f '${Package} ${Version}\n' \
           | sort -u)
  closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
              --no-enhances git | grep '^[a-z0-9]' | sort -u)
  # shellcheck disable=SC2086
  want=$(apt-cache show --no-all-versions $closure \
           | awk '/^Package:/ {p = $2} /^Version:/ {print p, $2}' | sort -u)
  missing=$(comm -23 <(echo "$want") <(echo "$have") | cut -d' ' -f1)
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    (cd "$debs" && apt-get download -qq $missing)
  fi
  touch "$debs/.complete"
fi

# The build context: exactly the wheels, healcrew's wheel and the packages, nothing else of the host.
context=$(mktemp -d "${TMPDIR:-/tmp}/healcrew-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/app" "$context/debs"
cp -rl "$deps/wheels" "$context/wheels" 2>/dev/null || { rm -rf "$context/wheels"; cp -r "$deps/wheels" "$context/wheels"; }
find "$debs" -name '*.deb' -exec cp {} "$context/debs/" \;
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --no-index --find-links "$deps/tools" \
  --wheel-dir "$context/app" .

say "docker build (no network)"
docker build --quiet --network none --file deploy/Dockerfile \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "VERSION=$version" \
  --tag "$IMAGE:$version" --tag "$IMAGE:latest" "$context" >/dev/null

size=$(docker image inspect --format '{{.Size}}' "$IMAGE:$version")
wheelhouse=$(du -sm "$deps/wheels" | cut -f1)
say "$IMAGE:$version and :latest built in $((SECONDS - started)) s;" \
    "image $((size / 1000000)) MB, wheelhouse ${wheelhouse} MiB"
