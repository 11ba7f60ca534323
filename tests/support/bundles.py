"""RAUC bundles, signed as the vendor's build signs them."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from . import pki


def bundle(signer: pki.Issued, version: str, image: bytes = b"\x7fELF fake rootfs" * 64, compatible: str = "dpu-sim") -> bytes:
    """A RAUC plain bundle: payload, detached CMS signature, its size."""
    payload = json.dumps({"compatible": compatible, "version": version}).encode() + b"\n" + image
    sig = (pkcs7.PKCS7SignatureBuilder().set_data(payload).add_signer(signer.cert, signer.key, hashes.SHA256())
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]))
    return payload + sig + len(sig).to_bytes(8, "big")
