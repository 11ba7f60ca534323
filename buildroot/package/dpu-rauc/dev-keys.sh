#!/bin/sh
#
# A development CA and a bundle signing key it certifies, in DIR (made once:
# an output directory keeps its keys, so its bundles keep installing on the
# boxes flashed from it). FOR DEVELOPMENT ONLY: the private keys sit in the
# output directory. Usage: dev-keys.sh DIR [OPENSSL]
#

set -e

DIR="$1"
OPENSSL="${2:-openssl}"
SUBJECT="/O=dpu-agent DEVELOPMENT/CN=DEVELOPMENT KEY - NOT FOR PRODUCTION"

if [ -s "$DIR/ca.cert.pem" ] && [ -s "$DIR/signing.key.pem" ] && [ -s "$DIR/signing.cert.pem" ]; then
	exit 0
fi
mkdir -p "$DIR"
chmod 700 "$DIR"
umask 077
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$DIR/ca.key.pem" -out "$DIR/ca.cert.pem" -days 3650 \
	-subj "$SUBJECT CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
"$OPENSSL" req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$DIR/signing.key.pem" -out "$DIR/signing.csr" \
	-subj "$SUBJECT" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$DIR/signing.ext"
"$OPENSSL" x509 -req -in "$DIR/signing.csr" -CA "$DIR/ca.cert.pem" -CAkey "$DIR/ca.key.pem" \
	-CAcreateserial -days 3650 -extfile "$DIR/signing.ext" \
	-out "$DIR/signing.cert.pem" 2>/dev/null
rm -f "$DIR/signing.csr" "$DIR/signing.ext"
chmod 644 "$DIR/ca.cert.pem" "$DIR/signing.cert.pem"
echo "*** DEVELOPMENT bundle signing key made in $DIR: NOT FOR PRODUCTION ***" >&2
