#!/usr/bin/env python3
"""A tiny EMQX-style auth service for the auth_http tests, on Python's http.server (code nobody on this project
wrote serves the HTTP). Usage: http_auth_server.py PORT. Users: alice/secret (allowed), ignored (200 "ignore"),
boss/b-pass (200 {"is_superuser": true}), scoped/s-pass (200 with an acl), root (superuser by /mqtt/superuser);
/mqtt/acl allows topics under allowed/; /mqtt/slow answers after 5 s. Accepts form, JSON and query-string params and
prints one line per request without the password."""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def params(self):
        url = urlparse(self.path)
        values = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                values.update(json.loads(body))
            else:
                values.update({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})
        return url.path, values

    def answer(self, status, body=""):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_request(self):
        path, p = self.params()
        shown = {k: v for k, v in p.items() if k != "password"}
        print(f"{self.command} {path} {json.dumps(shown, sort_keys=True)}", flush=True)
        user, password = p.get("username"), p.get("password")
        if path == "/mqtt/auth":
            if (user, password) == ("alice", "secret"):
                return self.answer(200)
            if user == "ignored":
                return self.answer(200, "ignore")
            if (user, password) == ("boss", "b-pass"):
                return self.answer(200, json.dumps({"is_superuser": True}))
            if (user, password) == ("scoped", "s-pass"):
                return self.answer(200, json.dumps({"acl": {"pub": ["up/%u"], "sub": ["down/#"]}}))
            if (user, password) == ("root", "r-pass"):
                return self.answer(200)
            return self.answer(401)
        if path == "/mqtt/superuser":
            return self.answer(200 if user == "root" else 403)
        if path == "/mqtt/acl":
            return self.answer(200 if p.get("topic", "").startswith("allowed/") else 403)
        if path == "/mqtt/slow":
            time.sleep(5)
            return self.answer(200)
        return self.answer(404)

    do_GET = handle_request
    do_POST = handle_request

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("auth service ready", flush=True)
    server.serve_forever()
