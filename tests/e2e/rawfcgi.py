"""A raw FastCGI peer for the hostile tests: it writes whatever bytes a test
asks for (any record type, request id, version, content and padding lengths
that lie, name-value lengths that lie), cuts streams short, multiplexes,
trickles, and reads back every record with the time the connection ended.
fcgi.py builds the well-formed parts; this module sends what no web server
would."""

import socket
import struct
import time

import fcgi

# FCGI_END_REQUEST protocol status (FastCGI 1.0, section 5.5).
REQUEST_COMPLETE, CANT_MPX_CONN, OVERLOADED, UNKNOWN_ROLE = 0, 1, 2, 3


def header(rtype, request_id, content_length, padding_length=0, version=fcgi.VERSION):
    """A record header that says whatever it is told, true or not."""
    return struct.pack(">BBHHBB", version, rtype, request_id, content_length, padding_length, 0)


def length(n, long_form=False):
    """A name-value length: one byte below 128, else four with the top bit."""
    if n < 128 and not long_form:
        return struct.pack(">B", n)
    return struct.pack(">I", (n & 0x7fffffff) | 0x80000000)


def pair(name_length, value_length, rest=b""):
    """A name-value pair header with the lengths given, followed by `rest`,
    whatever its size."""
    return length(name_length, name_length >= 128) + length(value_length, value_length >= 128) + rest


def request(params, request_id=1, role=fcgi.RESPONDER, keep=False, stdin=True):
    """A whole well-formed request as bytes."""
    out = fcgi.begin(request_id, role, keep) + fcgi.params_records(request_id, params)
    if stdin:
        out += fcgi.record(fcgi.STDIN, request_id)
    return out


class Exchange:
    """What came back on one connection."""

    def __init__(self, data, closed, seconds):
        self.data = data
        self.records = fcgi.read_records_from(data)
        self.closed = closed      # the responder closed it (EOF or reset)
        self.seconds = seconds    # from the first byte sent to the end

    def types(self):
        return [t for t, _, _ in self.records]

    def stdout(self, request_id=1):
        return b"".join(c for t, r, c in self.records if t == fcgi.STDOUT and r == request_id)

    def response(self, request_id=1):
        """The answer to one request, or None when it got no STDOUT."""
        out = self.stdout(request_id)
        return fcgi.Response(out) if out else None

    def end_request(self, request_id):
        """(appStatus, protocolStatus) of the last END_REQUEST for the id,
        or None."""
        found = None
        for t, r, c in self.records:
            if t == fcgi.END_REQUEST and r == request_id:
                found = struct.unpack(">IB3x", c)
        return found

    def request_ids(self, rtype):
        return sorted({r for t, r, _ in self.records if t == rtype})


class Peer:
    """One connection to the responder, driven byte by byte."""

    def __init__(self, address, timeout=10):
        self.sock = fcgi.connect(address, timeout)
        self.t0 = time.monotonic()

    def send(self, data):
        self.sock.sendall(data)
        return self

    def trickle(self, data, interval):
        """Sends one byte every `interval` seconds; stops at the first error
        (the responder closed the connection).  Returns the bytes sent."""
        sent = 0
        try:
            for i in range(len(data)):
                self.sock.send(data[i:i + 1])
                sent += 1
                time.sleep(interval)
        except OSError:
            pass
        return sent

    def shut_write(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return self

    def read_all(self, timeout=10):
        """Reads until the responder closes the connection or `timeout`
        seconds pass without it."""
        self.sock.settimeout(timeout)
        data, closed = b"", False
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
        return Exchange(data, closed, time.monotonic() - self.t0)

    def close(self):
        self.sock.close()


def exchange(address, data, shut=True, timeout=10):
    """Sends the bytes on a new connection, closes the sending side (unless
    told not to) and reads everything that comes back."""
    p = Peer(address, timeout)
    try:
        p.send(data)
        if shut:
            p.shut_write()
        return p.read_all(timeout)
    finally:
        p.close()
