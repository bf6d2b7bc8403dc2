# Shared by scripts/quickstart and scripts/test; source it, do not run it.
# Brings up what Dray needs on a Debian machine: packages, a Docker engine, the images.

DRAY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DRAY_ENGINE_DIR=${DRAY_ENGINE_DIR:-/tmp/dray-engine}
DRAY_ENGINE_DATA=${DRAY_ENGINE_DATA:-/var/lib/dray-engine}
DRAY_STARTED_ENGINE=""

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
warn() { printf 'warning: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "'$*' needs root, and there is no sudo"
  fi
}

# need_packages PKG...: installs the Debian packages that are not installed yet.
need_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} from Debian"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

engine_answers() { timeout 10 docker version >/dev/null 2>&1; }

# swift_build ARG...: swift build, showing its own [n/N] progress lines (a build takes minutes),
# without the notice about a dependency's unhandled files, which is not ours to fix.
swift_build() {
  local status
  set +e
  swift build "$@" 2>&1 | grep --line-buffered -v -e "unhandled; explicitly declare them" -e "use of \`mktemp' is dangerous"
  status=${PIPESTATUS[0]}
  set -e
  return "$status"
}

# ensure_engine: uses the engine DOCKER_HOST names (or the default socket) when it answers;
# otherwise installs Debian's docker.io and starts a private dockerd, exporting DOCKER_HOST.
# The private engine publishes containers' ports on 127.0.0.1 only (`--ip`), so `-p 3000:3000`
# stays on loopback.
ensure_engine() {
  command -v docker >/dev/null || need_packages docker.io
  if engine_answers; then
    say "using the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
    return 0
  fi
  command -v dockerd >/dev/null || need_packages docker.io
  export DOCKER_HOST="unix://$DRAY_ENGINE_DIR/docker.sock"
  if engine_answers; then
    say "using the private Docker engine at $DOCKER_HOST"
    return 0
  fi
  say "starting a private Docker engine at $DOCKER_HOST"
  mkdir -p "$DRAY_ENGINE_DIR"
  as_root dockerd --host "$DOCKER_HOST" --data-root "$DRAY_ENGINE_DATA" --exec-root "$DRAY_ENGINE_DIR/exec" \
    --pidfile "$DRAY_ENGINE_DIR/dockerd.pid" --ip 127.0.0.1 >"$DRAY_ENGINE_DIR/dockerd.log" 2>&1 &
  DRAY_STARTED_ENGINE=$!
  local i
  for i in $(seq 1 120); do
    engine_answers && return 0
    kill -0 "$DRAY_STARTED_ENGINE" 2>/dev/null || { tail -20 "$DRAY_ENGINE_DIR/dockerd.log" >&2; die "dockerd exited"; }
    sleep 0.5
  done
  tail -20 "$DRAY_ENGINE_DIR/dockerd.log" >&2
  die "the Docker engine did not answer within 60 s"
}

# remove_tree DIR: removes DIR, first taking away (lazily) whatever is still mounted under it: a
# container's file system, when a test's own engine stopped while a container's shim held it.
# rm cannot remove a mount point, and a run that passed must not fail on its temporary files.
remove_tree() {
  local dir=$1 mount
  awk -v dir="$dir/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while read -r mount; do
    as_root umount -l "$mount" 2>/dev/null || true
  done
  rm -rf "$dir" 2>/dev/null || warn "could not remove all of $dir: $(find "$dir" -maxdepth 6 2>/dev/null | head -3 | tr '\n' ' ')"
}

# stop_engine: stops the private dockerd if this script started it.
stop_engine() {
  [ -n "$DRAY_STARTED_ENGINE" ] || return 0
  say "stopping the private Docker engine"
  local pid i
  pid=$(cat "$DRAY_ENGINE_DIR/dockerd.pid" 2>/dev/null || echo "$DRAY_STARTED_ENGINE")
  as_root kill "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  # Its socket and run-time state; its images stay in $DRAY_ENGINE_DATA for the next run.
  rm -rf "$DRAY_ENGINE_DIR" 2>/dev/null || true
  DRAY_STARTED_ENGINE=""
}

# start_podman IMAGE...: starts Podman's Docker-compatible service on a private socket, with
# IMAGEs copied from the Docker engine, and exports DRAY_PODMAN_HOST. Podman's default rlimits
# for containers (nofile and nproc above what this sandbox lets a process set) make every
# container fail to start ("error setting rlimits ... operation not permitted"), so a
# containers.conf drop-in sets default_ulimits within them. `--time=0` keeps the service up
# (by default it exits after 5 s without a request).
DRAY_PODMAN_DIR=${DRAY_PODMAN_DIR:-/tmp/dray-podman}
DRAY_PODMAN_PID=""
start_podman() {
  need_packages podman
  podman_cgroups
  as_root mkdir -p /etc/containers/containers.conf.d
  printf '# Written by Dray'"'"'s scripts/lib.sh: the sandbox refuses Podman'"'"'s default rlimits.\n[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' |
    as_root tee /etc/containers/containers.conf.d/dray-ulimits.conf >/dev/null
  mkdir -p "$DRAY_PODMAN_DIR"
  export DRAY_PODMAN_HOST="unix://$DRAY_PODMAN_DIR/podman.sock"
  if ! curl -sf --unix-socket "$DRAY_PODMAN_DIR/podman.sock" http://podman/_ping >/dev/null 2>&1; then
    say "starting Podman's Docker-compatible service at $DRAY_PODMAN_HOST"
    rm -f "$DRAY_PODMAN_DIR/podman.sock"
    as_root podman system service --time=0 "$DRAY_PODMAN_HOST" >"$DRAY_PODMAN_DIR/podman.log" 2>&1 &
    DRAY_PODMAN_PID=$!
    local i
    for i in $(seq 1 100); do
      curl -sf --unix-socket "$DRAY_PODMAN_DIR/podman.sock" http://podman/_ping >/dev/null 2>&1 && break
      kill -0 "$DRAY_PODMAN_PID" 2>/dev/null || { cat "$DRAY_PODMAN_DIR/podman.log" >&2; die "podman system service exited"; }
      sleep 0.2
    done
  fi
  if (($#)); then
    say "copying $* into Podman"
    docker save -o "$DRAY_PODMAN_DIR/images.tar" "$@"
    as_root podman load -q -i "$DRAY_PODMAN_DIR/images.tar" >/dev/null
    rm -f "$DRAY_PODMAN_DIR/images.tar"
  fi
}

# podman_cgroups: on a hybrid cgroup layout (v1 hierarchies, and cgroup2 at
# /sys/fs/cgroup/unified), a controller that no v1 hierarchy holds shows in cgroup2 (hugetlb, on
# some kernels), and crun then refuses every container: "cgroups in hybrid mode not supported,
# drop all controllers from cgroupv2". Each such controller gets a v1 hierarchy of its own.
podman_cgroups() {
  local unified=/sys/fs/cgroup/unified controller
  [ -s "$unified/cgroup.controllers" ] || return 0
  for controller in $(cat "$unified/cgroup.controllers"); do
    say "mounting a cgroup v1 hierarchy for $controller, which crun refuses to find in cgroup2"
    as_root mkdir -p "/sys/fs/cgroup/$controller"
    as_root mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller" ||
      say "warning: cannot mount the $controller cgroup: crun may refuse Podman's containers"
  done
}

# stop_podman: stops Podman's service if start_podman started it.
stop_podman() {
  [ -n "$DRAY_PODMAN_PID" ] || return 0
  as_root kill "$DRAY_PODMAN_PID" 2>/dev/null || true
  # $! was the shell that ran as_root, not Podman's service itself: end the service by its socket.
  as_root pkill -f "podman system service --time=0 $DRAY_PODMAN_HOST" 2>/dev/null || true
  DRAY_PODMAN_PID=""
}

# build_image TAG DIR: builds DIR's Dockerfile offline, with the static busybox in its context.
build_image() {
  local tag=$1 dir=$2 context
  context=$(mktemp -d)
  cp -r "$dir"/. "$context"/
  cp /bin/busybox "$context/busybox"
  # The legacy builder works offline; its deprecation notice is noise here.
  docker build -q -t "$tag" "$context" >"$context.log" 2>&1 || { cat "$context.log" >&2; rm -rf "$context"*; die "cannot build $tag"; }
  rm -f "$context.log"
  rm -rf "$context"
}

# build_example_images: dray/busybox, then the Word Job's randword, upper and reverse.
build_example_images() {
  need_packages busybox-static
  say "building the example images"
  build_image dray/busybox "$DRAY_ROOT/examples/images/busybox"
  local name
  for name in randword upper reverse; do build_image "dray/$name" "$DRAY_ROOT/examples/images/$name"; done
}

# make_rootfs DEST SRC:PATH...: a root file system for a `FROM scratch` image: each program
# SRC at PATH (stripped), the shared libraries ldd says it loads at their own paths, /tmp
# (1777), /var/lib/dray, and an nsswitch.conf that resolves names from /etc/hosts, then DNS.
make_rootfs() {
  local dest=$1 pair src path lib
  shift
  mkdir -p "$dest/tmp" "$dest/etc" "$dest/var/lib/dray"
  chmod 1777 "$dest/tmp"
  printf 'hosts: files dns\n' >"$dest/etc/nsswitch.conf"
  for pair in "$@"; do
    src=${pair%%:*} path=${pair#*:}
    install -D -m 0755 "$src" "$dest$path"
    strip --strip-unneeded "$dest$path" 2>/dev/null || true
    for lib in $(ldd "$src" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
      [ -e "$dest$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$dest$lib"
    done
  done
}

# image_from_rootfs TAG ROOTFS DOCKERFILE_TEXT: builds TAG offline from ROOTFS and a
# Dockerfile that starts `FROM scratch` and copies `rootfs/`.
image_from_rootfs() {
  local tag=$1 rootfs=$2 text=$3 context
  context=$(mktemp -d)
  mv "$rootfs" "$context/rootfs"
  printf '%s\n' "$text" >"$context/Dockerfile"
  docker build -q -t "$tag" "$context" >"$context.log" 2>&1 || { cat "$context.log" >&2; rm -rf "$context"*; die "cannot build $tag"; }
  rm -rf "$context" "$context.log"
}

# build_redis_image: `dray/redis`, from Debian's redis-server and the libraries it loads, since
# no registry can be reached; like the official image it listens on every interface of its
# container with protected mode off, and keeps its data in /data.
build_redis_image() {
  need_packages redis-server
  say "building the dray/redis image from Debian's redis-server"
  local rootfs
  rootfs=$(mktemp -d)
  make_rootfs "$rootfs" "$(command -v redis-server):/usr/local/bin/redis-server" \
    "$(command -v redis-cli):/usr/local/bin/redis-cli"
  mkdir -p "$rootfs/data"
  image_from_rootfs dray/redis:latest "$rootfs" 'FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]'
}

# ensure_redis_image: a `redis` image for the seed's `docker run … redis` lines and compose
# file. One already there (the official image, say) is used as it is, never replaced; else
# dray/redis is built and tagged `redis`, and DRAY_TAGGED_REDIS says so, for untag_redis_image.
DRAY_TAGGED_REDIS=""
ensure_redis_image() {
  if docker image inspect redis:latest >/dev/null 2>&1; then
    say "using the redis image there is"
    return 0
  fi
  build_redis_image
  docker tag dray/redis:latest redis:latest
  DRAY_TAGGED_REDIS=1
}

# untag_redis_image: takes away the `redis` tag that ensure_redis_image added (dray/redis stays).
untag_redis_image() {
  [ -n "$DRAY_TAGGED_REDIS" ] || return 0
  docker rmi redis:latest >/dev/null 2>&1 || true
  DRAY_TAGGED_REDIS=""
}

# build_release_binary [PRODUCT]: .build/release/dray (or PRODUCT: dray-bench), as the image ships it: the Swift runtime linked in,
# Foundation's ICU data cut to what Dray reads that does not depend on a locale, plus root and
# English (scripts/icu-data.py says why): 32 MB less, and no symbol exported.
build_release_binary() {
  local product=${1:-dray} toolchain icu flags=() arg args
  need_packages libsqlite3-dev binutils python3
  toolchain=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift_static/linux
  icu=$(mktemp -d)
  args=$(python3 "$DRAY_ROOT/scripts/icu-data.py" "$toolchain/lib_FoundationICU.a" "$icu") || die "cannot cut the ICU data"
  for arg in $args; do flags+=(-Xlinker "$arg"); done
  # The toolchain's static-stdlib link exports every symbol of every module (-export-dynamic)
  # for no caller of Dray's: 6 MiB of symbol names in the stripped binary.
  flags+=(-Xlinker --no-export-dynamic)
  # scripts/size-report asks for the linker's map of where each library's bytes went.
  [ -z "${DRAY_LINK_MAP:-}" ] || flags+=(-Xlinker "-Map=$DRAY_LINK_MAP")
  say "building the release binary $product (static Swift runtime; about 10 minutes on 2 cores the first time)"
  swift_build -c release --static-swift-stdlib --product "$product" "${flags[@]}"
  rm -rf "$icu"
}

# build_dray_image [TAG]: Dray's image (default dray:latest) offline: the release binary on the
# runtime stage of the Dockerfile, unchanged.
build_dray_image() {
  local tag=${1:-dray:latest} rootfs
  build_release_binary
  rootfs=$(mktemp -d)
  make_rootfs "$rootfs" "$DRAY_ROOT/.build/release/dray:/usr/local/bin/dray"
  say "building the image $tag"
  image_from_rootfs "$tag" "$rootfs" "$(sed -n '/^FROM scratch/,$p' "$DRAY_ROOT/Dockerfile" | sed 's|^COPY --from=build /rootfs/ /|COPY rootfs/ /|')"
}

# ensure_pypi MODULE PACKAGE VERSION: PACKAGE at VERSION from PyPI, unless it is installed at
# that version; MODULE must then import.
ensure_pypi() {
  if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$2') != '$3')" 2>/dev/null; then
    say "installing $2 $3 from PyPI"
    python3 -m pip install -q --disable-pip-version-check "$2==$3" 2>&1 | grep -vi "running pip as the 'root' user" >&2 || true
    python3 -c "import $1" || die "$2 did not install"
  fi
}

# ensure_selenium: Debian's Chromium and chromium-driver, and Selenium from PyPI (4.52 needs a
# newer certifi than the package index has), for the dashboard's tests and benchmark.
ensure_selenium() {
  need_packages chromium chromium-driver
  ensure_pypi selenium selenium 4.51.0
}

# ensure_otlp_proto: the opentelemetry-proto package from PyPI, with which Tests/otlp/receiver.py
# decodes the traces dray serve --otlp-endpoint exports.
ensure_otlp_proto() {
  ensure_pypi opentelemetry.proto.collector.trace.v1.trace_service_pb2 opentelemetry-proto 1.45.2
}

# start_postgres: Debian's PostgreSQL, a cluster of its own in $DRAY_PG_DIR (initdb as the
# postgres user, trust on loopback only, no fsync: test data), on a free loopback port; exports
# DRAY_TEST_POSTGRES_URL. The tests make a database each on it.
DRAY_PG_DIR=${DRAY_PG_DIR:-/tmp/dray-postgres}
start_postgres() {
  need_packages postgresql
  local bin port
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  stop_postgres
  rm -rf "$DRAY_PG_DIR"
  mkdir -p "$DRAY_PG_DIR"
  chown postgres "$DRAY_PG_DIR"
  runuser -u postgres -- "$bin/initdb" -D "$DRAY_PG_DIR/data" --auth=trust -U postgres --no-sync >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  say "starting PostgreSQL on 127.0.0.1:$port"
  runuser -u postgres -- "$bin/pg_ctl" -D "$DRAY_PG_DIR/data" -l "$DRAY_PG_DIR/log" -w \
    -o "-p $port -k $DRAY_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=500" start >/dev/null
  export DRAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}
stop_postgres() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] && [ -f "$DRAY_PG_DIR/data/postmaster.pid" ] || return 0
  runuser -u postgres -- "$bin/pg_ctl" -D "$DRAY_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}
