#!/usr/bin/env bash
# Install what the benchmarks run against: wrk, nginx and redis-server (apt),
# and one virtualenv per Python peer under .venv-bench/<peer> (ignored by git).
# Idempotent: a venv whose .installed stamp lists the same packages is left alone;
# when the list changed (e.g. onnxruntime added), the packages are installed into it.
#
# Usage: benchmarks/setup_peers.sh [peer ...]   (default: every peer)
# Peers: asgi (uvicorn + FastAPI), mlserver, seldon, litserve, bentoml, redis (redis-py).
# A peer whose install fails is reported and skipped; the script still exits 0
# when at least wrk and nginx are present, so the bench runs with what it has.
set -u

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_VENVS="$ROOT/.venv-bench"
PY="${PY:-python3}"

# Pinned to the versions BENCH-ANCHORS.md was measured with.
declare -A PEER_PACKAGES=(
  [asgi]="uvicorn==0.54.0 uvloop httptools fastapi==0.165.0"
  # uvloop 0.22+ kills MLServer's inference worker at start ("There is no current event loop").
  # onnxruntime (the version easlab's own venv runs) for the models bench's ONNX runtimes.
  [mlserver]="mlserver==1.7.1 uvloop<0.22 onnxruntime==1.32.0"
  # gunicorn 20.1 (pulled by seldon-core) imports pkg_resources, gone from setuptools 81.
  [seldon]="seldon-core==1.18.2 setuptools<81"
  [litserve]="litserve==0.2.19 onnxruntime==1.32.0"
  [bentoml]="bentoml==1.4.40"
  # the queue benchmark's anchor: Redis streams through redis-py with the hiredis parser
  [redis]="redis==8.1.0 hiredis"
)
ALL_PEERS=(asgi mlserver seldon litserve bentoml redis)

install_tools() {
  local missing=()
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "setup_peers: apt-get install ${missing[*]}"
  if ! apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq "${missing[@]}" >/dev/null || {
      echo "setup_peers: could not install ${missing[*]} (need root and apt); install them by hand" >&2
      return 1
    }
  fi
  # Debian starts a system redis-server on install; the bench starts its own per run.
  case " ${missing[*]} " in *" redis-server "*) service redis-server stop >/dev/null 2>&1 || true ;; esac
}

install_peer() {
  local peer="$1" venv="$BENCH_VENVS/$1"
  local packages="${PEER_PACKAGES[$peer]:-}"
  if [ -z "$packages" ]; then
    echo "setup_peers: unknown peer '$peer' (known: ${ALL_PEERS[*]})" >&2
    return 1
  fi
  # The stamp holds the package list it was installed with (older stamps are empty).
  [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$packages" ] && return 0
  if [ -f "$venv/.installed" ] && [ -x "$venv/bin/pip" ]; then
    echo "setup_peers: updating $venv ($packages)"
    rm -f "$venv/.installed"
  else
    echo "setup_peers: creating $venv ($packages)"
    rm -rf "$venv"
    "$PY" -m venv "$venv" || return 1
  fi
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  if "$venv/bin/pip" install -q --disable-pip-version-check $packages >"$venv.log" 2>&1; then
    printf '%s' "$packages" >"$venv/.installed"
  else
    echo "setup_peers: pip install for '$peer' failed; see $venv.log" >&2
    return 1
  fi
}

main() {
  install_tools || exit 1
  mkdir -p "$BENCH_VENVS"
  local peers=("$@")
  [ ${#peers[@]} -eq 0 ] && peers=("${ALL_PEERS[@]}")
  local failed=()
  for peer in "${peers[@]}"; do
    install_peer "$peer" || failed+=("$peer")
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "setup_peers: not installed: ${failed[*]} (the bench skips them)" >&2
  fi
  exit 0
}

main "$@"
