#!/usr/bin/env bash
# Install what this project needs on Debian 12: system packages (PostgreSQL with the matching
# PostGIS, redis-server, nginx-light (the buffering proxy `make run` puts in front of gunicorn),
# the Python venv module; with --with-browser also Chromium, its driver
# and CJK fonts; with --with-bench also wrk, the HTTP load generator of `make bench`, and
# valgrind, whose callgrind counts the instructions of a report), then
# .venv with the project installed in editable mode.
#
# Idempotent and quick to re-run: the package check is a single dpkg-query call, and the pip
# step is skipped while .venv/.installed-stamp is newer than pyproject.toml.
#
# It does not start anything: the private PostgreSQL and redis-server under instance/ are
# started on demand by `python -m fieldapp.localservices up` (or the app itself).
#
#   scripts/bootstrap.sh [--with-browser] [--with-bench]
set -euo pipefail

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

WITH_BROWSER=0
WITH_BENCH=0
for arg in "$@"; do
  case "$arg" in
    --with-browser) WITH_BROWSER=1 ;;
    --with-bench) WITH_BENCH=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "bootstrap: unknown option: $arg" >&2
      usage >&2
      exit 2
      ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STARTED_US=${EPOCHREALTIME/./}
step() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
  printf 'bootstrap: error: %s\n' "$*" >&2
  exit 1
}

# --------------------------------------------------------------------------- helpers

# Names of the given packages that dpkg reports fully installed ("ii"), one per line.
# Unknown names make dpkg-query exit 1; that just means "not installed".
installed_of() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "$@" 2>/dev/null |
    awk '$1 == "ii" { print $2 }' || true
}

# Newest PostgreSQL server major that is installed, e.g. "15"; empty if none.
installed_pg_major() {
  installed_of 'postgresql-[0-9]*' | sed -n 's/^postgresql-\([0-9][0-9]*\)$/\1/p' |
    sort -n | tail -n 1
}

# Major that `apt-get install postgresql` would bring, from the package lists; empty if the
# lists do not know (e.g. before the first apt-get update on a fresh image).
candidate_pg_major() {
  apt-cache depends postgresql 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^postgresql-[0-9]+$/ { sub("postgresql-", "", $2); print $2; exit }' ||
    true
}

is_3_11_or_newer() {
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# The interpreter for .venv: python3 on PATH if it is 3.11+, else Debian's own.
pick_python() {
  local candidate
  candidate="$(command -v python3 || true)"
  if [[ -n "$candidate" ]] && is_3_11_or_newer "$candidate" &&
    "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "$candidate"
  elif [[ -x /usr/bin/python3 ]]; then
    echo /usr/bin/python3
  fi
}

venv_healthy() {
  [[ -x .venv/bin/python ]] && is_3_11_or_newer .venv/bin/python
}

# --------------------------------------------------------------------------- 1. system

step "[1/2] System packages"

wanted=(redis-server nginx-light)
PY=""
if ! venv_healthy; then
  PY="$(pick_python)" # only then: pyenv shims make each python3 call cost ~0.1 s
  if [[ -z "$PY" ]]; then
    wanted+=(python3 python3-venv)
  elif [[ "$PY" == /usr/bin/python3 ]] && ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    wanted+=(python3-venv) # Debian ships ensurepip (needed by `python3 -m venv`) separately
  fi
fi
PG_MAJOR="$(installed_pg_major)"
if [[ -n "$PG_MAJOR" ]]; then
  # PostGIS must match the server major that fieldapp.localservices will pick (the newest).
  wanted+=("postgresql-$PG_MAJOR" "postgresql-$PG_MAJOR-postgis-3")
else
  wanted+=(postgresql)
fi
if ((WITH_BROWSER)); then
  # chromium-l10n: the browser's own Chinese, for native widgets in the README's screenshots
  # (a date field reads 年/月/日, not the US mm/dd/yyyy).
  wanted+=(chromium chromium-driver chromium-l10n fonts-noto-cjk)
fi
if ((WITH_BENCH)); then
  wanted+=(wrk valgrind)
fi

mapfile -t present < <(installed_of "${wanted[@]}")
missing=()
for pkg in "${wanted[@]}"; do
  found=0
  for have in "${present[@]}"; do
    if [[ "$have" == "$pkg" ]]; then
      found=1
      break
    fi
  done
  ((found)) || missing+=("$pkg")
done
# The server major is unknown until postgresql is chosen; PostGIS for it is added below.
need_postgis_for_new_server=0
if [[ -z "$PG_MAJOR" ]]; then
  need_postgis_for_new_server=1
fi

APT_INSTALL=(apt-get install -y -o DPkg::Lock::Timeout=300)
SYSTEM_SUMMARY="all present"
if ((${#missing[@]})); then
  if ((EUID != 0)); then
    major="$(candidate_pg_major)"
    if ((need_postgis_for_new_server)); then
      if [[ -n "$major" ]]; then
        missing+=("postgresql-$major-postgis-3")
      else
        missing+=(postgresql-15-postgis-3) # Debian 12's server; the lists are not loaded yet
      fi
    fi
    {
      printf 'bootstrap: missing system packages: %s\n' "${missing[*]}"
      printf 'Run this as root (for instance after sudo -i), then run this script again:\n\n'
      printf '  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y %s\n\n' \
        "${missing[*]}"
    } >&2
    exit 1
  fi
  note "missing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive # no debconf prompts: this must run unattended
  note "apt-get update"
  apt-get update -q -o DPkg::Lock::Timeout=300
  if ((need_postgis_for_new_server)); then
    major="$(candidate_pg_major)"
    [[ -n "$major" ]] || die "apt cannot resolve the 'postgresql' package; check /etc/apt/sources.list"
    missing+=("postgresql-$major-postgis-3")
  fi
  note "apt-get install -y ${missing[*]}"
  # The project starts its own private servers; Debian's packages would start system-wide
  # ones (nginx on port 80, ...) unless a policy says no. Add one for this install only, when
  # the machine has none (container images usually do).
  added_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  installed_ok=1
  "${APT_INSTALL[@]}" "${missing[@]}" || installed_ok=0
  if ((added_policy)); then rm -f /usr/sbin/policy-rc.d; fi
  ((installed_ok)) || die "apt-get install failed (see above)"
  SYSTEM_SUMMARY="installed ${missing[*]}"
  venv_healthy || PY="$(pick_python)"
else
  note "all present: ${wanted[*]}"
fi

# --------------------------------------------------------------------------- 2. Python

step "[2/2] Python environment (.venv)"

PY_SUMMARY=""
if ! venv_healthy; then
  [[ -n "$PY" ]] || die "no usable python3 (3.11+ with the venv module) found"
  rm -rf .venv
  note "creating .venv with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
  "$PY" -m venv .venv
fi
VENV_VERSION="$(.venv/bin/python -c 'import platform; print(platform.python_version())')"

export PIP_DISABLE_PIP_VERSION_CHECK=1
if [[ .venv/.installed-stamp -nt pyproject.toml ]]; then
  note "up to date (.venv/.installed-stamp is newer than pyproject.toml)"
  PY_SUMMARY="Python $VENV_VERSION in .venv, up to date"
else
  note "upgrading pip"
  .venv/bin/python -m pip install --quiet --upgrade pip
  note "pip install -e '.[dev]'"
  .venv/bin/python -m pip install -e '.[dev]'
  touch .venv/.installed-stamp
  PY_SUMMARY="Python $VENV_VERSION in .venv, project installed"
fi

elapsed_ms=$(((${EPOCHREALTIME/./} - STARTED_US) / 1000))
printf '\nbootstrap: ok in %d.%01d s - system packages: %s; %s\n' \
  $((elapsed_ms / 1000)) $((elapsed_ms % 1000 / 100)) "$SYSTEM_SUMMARY" "$PY_SUMMARY"
