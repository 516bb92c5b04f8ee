#!/usr/bin/env python3
"""Writes a fleet's password files for the connauth case: users dev0..dev<N-1> with passwords pw0..pw<N-1>, hashed
once with PBKDF2-HMAC-SHA512 at the given iteration count and written in both formats (the same salt and hash):

  OURS       dev0:$pbkdf2-sha512$<iterations>$<base64 salt>$<base64 hash>   (src/Broker.Core/AccessControl/PasswordFile.cs)
  MOSQUITTO  dev0:$7$<iterations>$<base64 salt>$<base64 hash>               (mosquitto_passwd's sha512-pbkdf2)

usage: make_passwd.py COUNT ITERATIONS OURS MOSQUITTO
"""
import base64
import hashlib
import os
import sys


def main() -> None:
    count, iterations = int(sys.argv[1]), int(sys.argv[2])
    with open(sys.argv[3], "w") as ours, open(sys.argv[4], "w") as mosquitto:
        for n in range(count):
            salt = os.urandom(12)  # mosquitto's salt length; ours takes any
            digest = hashlib.pbkdf2_hmac("sha512", f"pw{n}".encode(), salt, iterations, 64)
            s, h = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
            ours.write(f"dev{n}:$pbkdf2-sha512${iterations}${s}${h}\n")
            mosquitto.write(f"dev{n}:$7${iterations}${s}${h}\n")


if __name__ == "__main__":
    main()
