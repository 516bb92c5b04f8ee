#!/usr/bin/env python3
"""Mints test tokens with PyJWT (Debian's python3-jwt), a JWT implementation nobody on this project wrote.

  jwt_mint.py token ALG KEY PAYLOAD_JSON [KID]   KEY: an HMAC secret, or a PEM private key file for RS*/PS*/ES*;
                                                  ALG none: an unsigned token. PAYLOAD_JSON may use "exp": "+N" /
                                                  "nbf": "+N" (seconds from now, negative for the past).
  jwt_mint.py jwks PUBLIC_PEM KID                 a JWKS holding that public key (RSA or EC) under KID.
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def relative(payload):
    for claim in ("exp", "nbf", "iat"):
        value = payload.get(claim)
        if isinstance(value, str) and value[:1] in "+-":
            payload[claim] = int(time.time()) + int(value)
    return payload


def main():
    if sys.argv[1] == "token":
        alg, key, payload = sys.argv[2], sys.argv[3], relative(json.loads(sys.argv[4]))
        headers = {"kid": sys.argv[5]} if len(sys.argv) > 5 else None
        if alg == "none":
            key = None
        elif not alg.startswith("HS"):
            with open(key, "rb") as f:
                key = f.read()
        print(jwt.encode(payload, key, algorithm=alg, headers=headers))
    elif sys.argv[1] == "jwks":
        with open(sys.argv[2], "rb") as f:
            public = serialization.load_pem_public_key(f.read())
        algorithm = ECAlgorithm if isinstance(public, ec.EllipticCurvePublicKey) else RSAAlgorithm
        key = json.loads(algorithm.to_jwk(public))
        key["kid"] = sys.argv[3]
        print(json.dumps({"keys": [key]}))


if __name__ == "__main__":
    main()
