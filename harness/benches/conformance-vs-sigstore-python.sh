#!/usr/bin/env bash
# Whole-process comparison on the Sigstore conformance suite's bundle-verify
# cases: trustswap's `verify-bundle` against sigstore-python's CLI, one
# process per case for each, offline, on the same bundles, artifacts,
# identities and trusted roots. Prints each tool's verdicts against the
# expected ones and its wall time.
#
#   harness/benches/conformance-vs-sigstore-python.sh [SIGSTORE_CLI] [TRUSTSWAP]
#
# SIGSTORE_CLI: sigstore-python's `sigstore` (default: `sigstore` on PATH;
# `python3 -m venv v && v/bin/pip install sigstore==4.5.1` gives one).
# TRUSTSWAP: the binary (default: target/release/trustswap).
# Needs ../shared/realworld. Not part of CI: it measures, it does not judge.
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
sigstore=${1:-sigstore}
trustswap=${2:-$here/target/release/trustswap}
suite=$here/../shared/realworld/bundles/sigstore-conformance/bundle-verify
prod=$here/../shared/realworld/trust/sigstore-public-good/trusted_root.json
beacon="https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
gha="https://token.actions.githubusercontent.com"

command -v "$sigstore" >/dev/null || { echo "no sigstore-python CLI: $sigstore (pip install sigstore==4.5.1)" >&2; exit 2; }
[ -x "$trustswap" ] || { echo "no trustswap binary at $trustswap (cargo build --release)" >&2; exit 2; }
[ -d "$suite" ] || { echo "no conformance suite at $suite" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# sigstore-python reads a trust root only inside a client trust config,
# whose signing config it takes from its own production copy.
signing=$("$(dirname "$(command -v "$sigstore")")/python3" -c \
  'import sigstore, pathlib; print(next(pathlib.Path(sigstore.__file__).parent.glob("_store/*tuf-repo-cdn.sigstore.dev/signing_config.v0.2.json")))')
trust_config() {
  python3 - "$1" "$signing" "$2" <<'EOF'
import json, sys
root, signing, out = sys.argv[1:4]
json.dump({
    "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
    "trustedRoot": json.load(open(root)),
    "signingConfig": json.load(open(signing)),
}, open(out, "w"))
EOF
}

cases=()
for dir in "$suite"/*/; do
  name=$(basename "$dir")
  cases+=("$name")
  root=$prod
  [ -f "$dir/trusted_root.json" ] && root=$dir/trusted_root.json
  trust_config "$root" "$work/$name.trust-config.json"
done

run_all() { # tool -> "ok total seconds"
  local tool=$1 ok=0 total=0 start end
  start=$(date +%s.%N)
  for name in "${cases[@]}"; do
    local dir=$suite/$name root=$prod artifact=$suite/a.txt identity=$beacon issuer=$gha
    [ -f "$dir/trusted_root.json" ] && root=$dir/trusted_root.json
    [ -f "$dir/artifact" ] && artifact=$dir/artifact
    [ -f "$dir/identity" ] && identity=$(cat "$dir/identity")
    [ -f "$dir/issuer" ] && issuer=$(cat "$dir/issuer")
    local rc=0
    if [ "$tool" = trustswap ]; then
      if [ -f "$dir/key.pub" ]; then
        "$trustswap" verify-bundle --bundle "$dir/bundle.sigstore.json" --key "$dir/key.pub" \
          --trusted-root "$root" "$artifact" >/dev/null 2>&1 || rc=$?
      else
        "$trustswap" verify-bundle --bundle "$dir/bundle.sigstore.json" --certificate-identity "$identity" \
          --certificate-oidc-issuer "$issuer" --trusted-root "$root" "$artifact" >/dev/null 2>&1 || rc=$?
      fi
    else
      # sigstore-python's CLI has no key-based verification: those cases fail.
      "$sigstore" --trust-config "$work/$name.trust-config.json" verify identity --offline \
        --bundle "$dir/bundle.sigstore.json" --cert-identity "$identity" --cert-oidc-issuer "$issuer" \
        "$artifact" >/dev/null 2>&1 || rc=$?
    fi
    total=$((total + 1))
    case $name in
      *_fail) [ "$rc" -ne 0 ] && ok=$((ok + 1)) ;;
      *) [ "$rc" -eq 0 ] && ok=$((ok + 1)) ;;
    esac
  done
  end=$(date +%s.%N)
  echo "$ok $total $(echo "$end - $start" | bc)"
}

read -r t_ok t_total t_secs < <(run_all trustswap)
read -r p_ok p_total p_secs < <(run_all sigstore-python)
printf 'trustswap verify-bundle:   %d/%d at the expected verdict in %.2f s\n' "$t_ok" "$t_total" "$t_secs"
printf 'sigstore-python %s: %d/%d at the expected verdict in %.2f s\n' \
  "$("$sigstore" --version | awk '{print $2}')" "$p_ok" "$p_total" "$p_secs"
printf 'trustswap is %.1f times faster end to end\n' "$(echo "$p_secs / $t_secs" | bc -l)"
