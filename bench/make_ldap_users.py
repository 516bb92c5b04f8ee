"""LDIF for bench/auth.sh: dc=example,dc=org, ou=devices and dev<n> / pw<n> as EMQX mqttUser entries, {SSHA} passwords."""
import base64
import hashlib
import os
import sys

print("dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n")
print("dn: ou=devices,dc=example,dc=org\nobjectClass: organizationalUnit\nou: devices\n")
for n in range(int(sys.argv[1])):
    salt = os.urandom(4)
    ssha = base64.b64encode(hashlib.sha1(f"pw{n}".encode() + salt).digest() + salt).decode()
    print(f"dn: uid=dev{n},ou=devices,dc=example,dc=org\nobjectClass: mqttDevice\nobjectClass: mqttSecurity\n"
          f"objectClass: mqttUser\nuid: dev{n}\nuserPassword: {{SSHA}}{ssha}\n")
