"""A small FastCGI client for the tests: it speaks to the responder directly,
so a test can send what a web server sends, and what none ever would."""

import socket
import struct

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER, AUTHORIZER, FILTER = 1, 2, 3


def record(rtype, request_id, content=b""):
    pad = (8 - len(content) % 8) % 8
    return struct.pack(">BBHHBB", VERSION, rtype, request_id, len(content), pad, 0) + content + b"\0" * pad


def _length(n):
    return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params):
    out = b""
    for k, v in params.items():
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += _length(len(k)) + _length(len(v)) + k + v
    return out


def params_records(request_id, params):
    body = encode_params(params)
    out = b""
    for i in range(0, len(body), 65535):
        out += record(PARAMS, request_id, body[i:i + 65535])
    return out + record(PARAMS, request_id)


def begin(request_id=1, role=RESPONDER, keep=False):
    return record(BEGIN_REQUEST, request_id, struct.pack(">HB5x", role, 1 if keep else 0))


def connect(address, timeout=10):
    if isinstance(address, str):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    elif ":" in address[0]:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(address)
    return s


def read_records(sock):
    """Yields (type, request_id, content) until the peer closes."""
    buf = b""
    while True:
        while len(buf) >= 8:
            _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            yield rtype, rid, buf[8:8 + clen]
            buf = buf[8 + clen + plen:]
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk


def read_records_from(data):
    """The records in a byte string (a whole captured exchange)."""
    out = []
    while len(data) >= 8:
        _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        out.append((rtype, rid, data[8:8 + clen]))
        data = data[8 + clen + plen:]
    return out


class Response:
    def __init__(self, raw, stderr=b""):
        self.raw = raw
        self.stderr = stderr
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.headers = []
        self.status = None
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                self.status = int(value.split()[0])
            else:
                self.headers.append((name, value))

    def header(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, "header %s repeated: %r" % (name, values)
        return values[0] if values else None

    def json(self):
        import json
        return json.loads(self.body)


def request(address, params, role=RESPONDER, stdin=b"", timeout=10):
    """One request on a fresh connection; returns a Response, or None when the
    responder closed the connection without an answer."""
    with connect(address, timeout) as s:
        s.sendall(begin(1, role) + params_records(1, params) + record(STDIN, 1, stdin) + record(STDIN, 1))
        out, err, ended = b"", b"", False
        for rtype, rid, content in read_records(s):
            if rtype == STDOUT:
                out += content
            elif rtype == STDERR:
                err += content
            elif rtype == END_REQUEST:
                ended = True
                break
        if not ended and not out:
            return None
        return Response(out, err)


def cgi_params(method="GET", uri="/.well-known/matrix/client", host="example.org", **extra):
    p = {"REQUEST_METHOD": method, "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1"}
    if uri is not None:
        p["REQUEST_URI"] = uri
    if host is not None:
        p["HTTP_HOST"] = host
    p.update(extra)
    return p
