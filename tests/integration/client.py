"""A strict HTTP/1.1 client for the integration tests: one request a
connection, the Host header exactly as given (or none), and a reply that is
parsed to the byte, so that a truncated chunked body or a missing header is
a failure rather than something a lenient library papers over."""

import socket
import time


class Reply:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in the order received
        self.body = body
        self.elapsed = elapsed

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header(self, name):
        """The header's one value, None when absent; a repeated header is an
        error, since every header mxdelegate sends is sent once."""
        values = self.all(name)
        if len(values) > 1:
            raise AssertionError("header %s repeated: %r" % (name, values))
        return values[0] if values else None

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s %r %r>" % (self.status, self.reason, self.headers, self.body[:200])


class ProtocolError(AssertionError):
    pass


def request(port, method="GET", path="/.well-known/matrix/client", host="example.org",
            headers=(), body=b"", version="HTTP/1.1", timeout=10, address="127.0.0.1"):
    """Sends one request and reads the reply to the end of the connection.
    host=None sends no Host header at all."""
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: " + host)
    lines.extend("%s: %s" % h for h in headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    t0 = time.monotonic()
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply = parse(data, head=(method == "HEAD"))
    reply.elapsed = time.monotonic() - t0
    return reply


def parse(data, head=False):
    header_end = data.find(b"\r\n\r\n")
    if header_end < 0:
        raise ProtocolError("no end of headers in %r" % data[:300])
    lines = data[:header_end].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1."):
        raise ProtocolError("bad status line %r" % lines[0])
    code, _, reason = rest.partition(" ")
    status = int(code)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or name != name.strip():
            raise ProtocolError("bad header line %r" % line)
        headers.append((name, value.strip()))
    reply = Reply(status, reason, headers, b"", 0.0)
    rest = data[header_end + 4:]
    if head or status in (204, 304) or 100 <= status < 200:
        if rest:
            raise ProtocolError("%d reply to %s carries %d bytes of body" %
                                (status, "HEAD" if head else "a request", len(rest)))
        return reply
    te = reply.header("Transfer-Encoding")
    length = reply.header("Content-Length")
    if te is not None:
        if te.lower() != "chunked":
            raise ProtocolError("Transfer-Encoding %r" % te)
        if length is not None:
            raise ProtocolError("both Transfer-Encoding and Content-Length")
        reply.body = dechunk(rest)
    elif length is not None:
        n = int(length)
        if len(rest) != n:
            raise ProtocolError("Content-Length %d but %d bytes of body" % (n, len(rest)))
        reply.body = rest
    else:
        reply.body = rest  # delimited by the close
    return reply


def dechunk(data):
    out = b""
    while True:
        eol = data.find(b"\r\n")
        if eol < 0:
            raise ProtocolError("chunked body cut short (no chunk size line)")
        size = int(data[:eol].split(b";")[0], 16)
        data = data[eol + 2:]
        if size == 0:
            if not data.startswith(b"\r\n"):
                raise ProtocolError("chunked body: no end after the last chunk: %r" % data[:50])
            return out
        if len(data) < size + 2 or data[size:size + 2] != b"\r\n":
            raise ProtocolError("chunked body cut short inside a chunk")
        out += data[:size]
        data = data[size + 2:]
