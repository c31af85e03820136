#!/usr/bin/env bash
# Certificates for the compose cluster's TLS variant (deploy/docker-compose.tls.yml), made
# with openssl into deploy/tls/ (or the directory given). Files already there are kept, so
# running it again is harmless; delete the directory for new ones.
#
#   deploy/make-certs.sh [DIR]        (default: deploy/tls, next to the compose file)
#
# - ca.crt, ca.key      the cluster CA (its key stays here, mode 600; keep it off servers)
# - node.crt, node.key  nodes and routers present it to each other (mutual TLS inside)
# - server.crt/.key     the routers' certificate for clients (localhost, 127.0.0.1, the
#                       names in SLOTRAFT_TLS_NAMES, space-separated)
# - client.crt/.key     a client certificate for redis-cli / redis-py (tls-auth-clients yes)
#
# The containers run as uid 10001; they read the keys through the group of this directory
# (this user's group, added to the containers: SLOTRAFT_TLS_GID, written to deploy/.env).
# `slotraft certs --dir DIR` makes the same set with Python's cryptography package.
set -euo pipefail
umask 027

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:-$HERE/tls}"
ENV_FILE="${SLOTRAFT_ENV_FILE:-$HERE/.env}"
DAYS=825
NAMES="localhost 127.0.0.1 node1 node2 node3 router1 router2 ${SLOTRAFT_TLS_NAMES:-}"

command -v openssl >/dev/null || { echo "make-certs.sh: openssl is not installed" >&2; exit 1; }
mkdir -p "$DIR"
chmod 750 "$DIR"

alt_names() {  # subjectAltName for NAMES: IP: for addresses, DNS: for the others
  local out="" name
  for name in $NAMES; do
    if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then out+="IP:$name,"; else out+="DNS:$name,"; fi
  done
  echo "${out%,}"
}

new_key() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

if [ ! -s "$DIR/ca.crt" ] || [ ! -s "$DIR/ca.key" ]; then
  new_key "$DIR/ca.key"
  chmod 600 "$DIR/ca.key"
  openssl req -x509 -new -key "$DIR/ca.key" -sha256 -days 3650 -subj "/O=slotraft/CN=slotraft cluster CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out "$DIR/ca.crt"
  chmod 644 "$DIR/ca.crt"
fi

issue() {  # NAME EXTENDED_KEY_USAGE WITH_NAMES
  local name="$1" usage="$2" with_names="$3" ext
  [ -s "$DIR/$name.crt" ] && [ -s "$DIR/$name.key" ] && return 0
  new_key "$DIR/$name.key"
  chmod 640 "$DIR/$name.key"
  ext="$(mktemp)"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "extendedKeyUsage=$usage"
    if [ "$with_names" = yes ]; then echo "subjectAltName=$(alt_names)"; fi
  } >"$ext"
  openssl req -new -key "$DIR/$name.key" -subj "/O=slotraft/CN=slotraft $name" |
    openssl x509 -req -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" -CAcreateserial -days "$DAYS" \
      -sha256 -extfile "$ext" -out "$DIR/$name.crt" 2>/dev/null
  rm -f "$ext"
  chmod 644 "$DIR/$name.crt"
}

issue node "serverAuth,clientAuth" yes
issue server serverAuth yes
issue client clientAuth no
rm -f "$DIR/ca.srl"
openssl verify -CAfile "$DIR/ca.crt" "$DIR/node.crt" "$DIR/server.crt" "$DIR/client.crt" >/dev/null

# The group through which the containers read the keys.
if ! grep -q '^SLOTRAFT_TLS_GID=' "$ENV_FILE" 2>/dev/null; then
  (umask 077; echo "SLOTRAFT_TLS_GID=$(id -g)" >>"$ENV_FILE")
fi
echo "certificates in $DIR (CA: $DIR/ca.crt); SLOTRAFT_TLS_GID in $ENV_FILE"
