#!/usr/bin/env bash
# Installs what ipcspec's tests need besides Rust: a C compiler for the
# fixtures and glibc's static libraries (.cargo/config.toml links ipcspec
# statically), the third-party servers and shells that must pass (socat, Python,
# bash, dash, busybox), and a CPU-load generator for the stability runs.
# Idempotent; the README and .ci/run both call it.
set -euo pipefail

# Some machines come up with /dev/null as a regular file: whatever one program
# writes there, the next one reads (rustc's target probe then fails, and targets
# get stray bytes on stdin). Put the null device back before anything uses it.
if [ ! -c /dev/null ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci/setup.sh: /dev/null is not the null device; run as root to repair it" >&2
    exit 1
  fi
  rm -f /dev/null
  mknod -m 666 /dev/null c 1 3
  echo "ci/setup.sh: repaired /dev/null (it was a regular file)" >&2
fi

need=()
command -v cc >/dev/null || need+=(gcc)
{ command -v cc >/dev/null && [ -e "$(cc -print-file-name=libc.a)" ]; } || need+=(libc6-dev)
command -v socat >/dev/null || need+=(socat)
command -v python3 >/dev/null || need+=(python3)
command -v bash >/dev/null || need+=(bash)
command -v dash >/dev/null || need+=(dash)
command -v busybox >/dev/null || need+=(busybox)
command -v stress-ng >/dev/null || need+=(stress-ng)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci/setup.sh: missing ${need[*]}; run as root or install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null || echo "ci/setup.sh: note: cargo-nextest not found (optional)" >&2
echo "ci/setup.sh: ready (cc, libc.a, socat, python3, bash, dash, busybox, stress-ng)"
