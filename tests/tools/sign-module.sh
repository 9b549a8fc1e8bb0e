#!/usr/bin/env bash
# sign-module.sh HASH KEY CERT MODULE: signs a kernel module in place as the kernel's scripts/sign-file does, for
# where sign-file itself is not at hand (tests; a kernel's kbuild built against another libcrypto): a detached DER
# PKCS#7 SignedData with no certificates and no signed attributes (CMS_NOCERTS | CMS_NOATTR | CMS_BINARY), then a
# struct module_signature (id_type 2, PKEY_ID_PKCS7, and the big-endian length of the PKCS#7), then the marker.
set -euo pipefail
hash=$1 key=$2 cert=$3 module=$4
signature=$(mktemp)
trap 'rm -f "$signature"' EXIT
openssl cms -sign -binary -noattr -nocerts -nosmimecap -outform DER -md "$hash" \
    -signer "$cert" -inkey "$key" -in "$module" -out "$signature"
length=$(stat -c %s "$signature")
byte() { printf "\\$(printf %03o "$1")"; }
{
    cat "$signature"
    printf '\0\0\2\0\0\0\0\0'
    byte $((length >> 24 & 255)); byte $((length >> 16 & 255)); byte $((length >> 8 & 255)); byte $((length & 255))
    printf '~Module signature appended~\n'
} >> "$module"
