#!/usr/bin/env bash
# Write what the compose cluster needs into deploy/.env (or the file given), readable by its
# owner only: a random cluster secret (every connection to a node proves it), a cluster id
# and the routers' password. Values already in the file are kept, so running it again is
# harmless; the volumes of a cluster belong to its secret and id, so keep the file.
#
#   deploy/init-env.sh [ENV_FILE]          (default: deploy/.env, next to the compose file)
set -euo pipefail
umask 077

ENV_FILE="${1:-$(dirname "$0")/.env}"
MIN_SECRET_CHARS=16  # proto/handshake.py SECRET_MIN_BYTES

random_hex() {  # $1 bytes from the kernel's CSPRNG, as hex
  od -An -vtx1 -N"$1" /dev/urandom | tr -d ' \n'
}

# The value of KEY in the file, as compose reads it (the last KEY=... line wins).
current_value() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^[[:space:]]*$1=//p" "$ENV_FILE" | tail -n 1
}

secret="$(current_value SLOTRAFT_CLUSTER_SECRET)"
if [ -n "$secret" ] && [ "${#secret}" -lt "$MIN_SECRET_CHARS" ]; then
  echo "$ENV_FILE: SLOTRAFT_CLUSTER_SECRET is shorter than $MIN_SECRET_CHARS characters;" \
    "remove that line to have a new one written (a cluster's volumes belong to its secret)" >&2
  exit 1
fi

added=()
kept=()
lines=""
for key in SLOTRAFT_CLUSTER_SECRET SLOTRAFT_CLUSTER_ID SLOTRAFT_PASSWORD; do
  if [ -n "$(current_value "$key")" ]; then
    kept+=("$key")
    continue
  fi
  case "$key" in
    SLOTRAFT_CLUSTER_SECRET) value="$(random_hex 32)" ;;
    SLOTRAFT_CLUSTER_ID) value="slotraft-$(random_hex 6)" ;;
    SLOTRAFT_PASSWORD) value="$(random_hex 24)" ;;
  esac
  lines+="$key=$value"$'\n'
  added+=("$key")
done

if [ "${#added[@]}" -gt 0 ]; then
  # The file as it was, less the empty KEY= lines of the keys written now, plus those keys:
  # into a new file beside it, then renamed over it, so there is never a half-written .env.
  temporary="$(mktemp "$ENV_FILE.XXXXXX")"
  trap 'rm -f "$temporary"' EXIT
  if [ -f "$ENV_FILE" ]; then
    pattern="^[[:space:]]*($(IFS='|'; echo "${added[*]}"))=[[:space:]]*$"
    { grep -Ev "$pattern" "$ENV_FILE" || true; } | sed -e '$a\' >"$temporary"
  fi
  printf '%s' "$lines" >>"$temporary"
  chmod 600 "$temporary"
  mv "$temporary" "$ENV_FILE"
  trap - EXIT
  echo "$ENV_FILE: wrote new ${added[*]}"
fi
if [ "${#kept[@]}" -gt 0 ]; then
  echo "$ENV_FILE: kept ${kept[*]} (already set)"
fi
chmod 600 "$ENV_FILE"
echo "$ENV_FILE is readable by its owner only (mode 600). Clients AUTH with its SLOTRAFT_PASSWORD;"
echo "keep the file: the cluster's volumes belong to its SLOTRAFT_CLUSTER_SECRET and SLOTRAFT_CLUSTER_ID."
