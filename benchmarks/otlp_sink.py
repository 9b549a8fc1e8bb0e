#!/usr/bin/env python3
"""otlp_sink.py: an OTLP/HTTP (protobuf) collector stand-in for soak.sh, with three modes.

Usage: otlp_sink.py PORT MODE_FILE STATE_FILE   (run inside the benchmark's node namespace)

MODE_FILE holds one word, re-read every 0.2 s:
  up         listen on 127.0.0.1:PORT and answer POST /v1/metrics and /v1/traces with 200 (an empty
             protobuf reply), decoding what arrives;
  down       nothing listens (connections are refused);
  blackhole  listen and accept connections, but never read from them nor answer (a collector that
             hangs): the connections are held open until the mode changes.
STATE_FILE is rewritten (atomically) after every request and mode change, as one JSON object:
  mode, metric_exports, span_exports, spans, and from the newest value of each cumulative series:
  drops (sum of tracer.drops), overflow (tracer.aggregate_overflow), export_failures, and
  blackhole_connections (accepted while in blackhole mode).

No dependencies: the few protobuf messages needed are decoded by hand (wire format only).
Only the loopback of the namespace it runs in is listened on.
"""
import http.server
import json
import os
import socket
import struct
import sys
import threading
import time


# --- protobuf wire format ------------------------------------------------------------------

def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """(field number, wire type, value) of one message; value is int or bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 2:
            size, i = varint(buf, i)
            v = buf[i:i + size]
            i += size
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, v


def any_value(buf):
    for num, wt, v in fields(buf):
        if num == 1:
            return bytes(v).decode("utf-8", "replace")
        if num in (2, 3):
            return v
        if num == 4:
            return struct.unpack("<d", v)[0]
    return None


def attributes(kvs):
    out = []
    for kv in kvs:
        key = value = None
        for num, _, v in fields(kv):
            if num == 1:
                key = bytes(v).decode()
            elif num == 2:
                value = any_value(v)
        out.append((key, value))
    return tuple(sorted(out, key=lambda a: a[0] or ""))


# --- state -----------------------------------------------------------------------------------

LOCK = threading.Lock()
STATE = {"mode": "down", "metric_exports": 0, "span_exports": 0, "spans": 0, "bad_requests": 0,
         "blackhole_connections": 0}
SERIES = {}   # (metric, attributes, start time) -> (time, value): the newest point of each series
WANTED = {"tracer.drops": "drops", "tracer.aggregate_overflow": "overflow", "tracer.export_failures": "export_failures"}


def write_state(path):
    with LOCK:
        state = dict(STATE)
        for key in WANTED.values():
            state[key] = 0
        for (metric, _, _), (_, value) in SERIES.items():
            state[WANTED[metric]] += value
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def take_metrics(body):
    for _, _, rm in fields(body):                        # ResourceMetrics
        for num, _, sm in fields(rm):
            if num != 2:
                continue
            for num2, _, m in fields(sm):                # ScopeMetrics.metrics
                if num2 != 2:
                    continue
                name, points = None, []
                for num3, _, v in fields(m):
                    if num3 == 1:
                        name = bytes(v).decode()
                    elif num3 == 7:                      # Sum
                        points += [p for n4, _, p in fields(v) if n4 == 1]
                if name not in WANTED:
                    continue
                for p in points:                         # NumberDataPoint
                    attrs, start, t, value = [], 0, 0, 0
                    for n5, _, v in fields(p):
                        if n5 == 7:
                            attrs.append(v)
                        elif n5 == 2:
                            start = struct.unpack("<Q", v)[0]
                        elif n5 == 3:
                            t = struct.unpack("<Q", v)[0]
                        elif n5 == 6:
                            value = struct.unpack("<q", v)[0]
                        elif n5 == 4:
                            value = struct.unpack("<d", v)[0]
                    key = (name, attributes(attrs), start)
                    with LOCK:
                        if key not in SERIES or SERIES[key][0] <= t:
                            SERIES[key] = (t, value)


def count_spans(body):
    n = 0
    for _, _, rs in fields(body):                        # ResourceSpans
        for num, _, ss in fields(rs):
            if num == 2:                                 # ScopeSpans
                n += sum(1 for n2, _, _ in fields(ss) if n2 == 2)
    return n


class Handler(http.server.BaseHTTPRequestHandler):
    state_file = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            if self.path.endswith("/v1/metrics"):
                take_metrics(body)
                with LOCK:
                    STATE["metric_exports"] += 1
            elif self.path.endswith("/v1/traces"):
                n = count_spans(body)
                with LOCK:
                    STATE["span_exports"] += 1
                    STATE["spans"] += n
            else:
                raise ValueError(self.path)
        except (ValueError, IndexError, struct.error):
            with LOCK:
                STATE["bad_requests"] += 1
            self.send_response(400)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        write_state(self.state_file)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def main():
    port, mode_file, state_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    Handler.state_file = state_file
    mode, server, hole, held = None, None, None, []
    write_state(state_file)
    while True:
        try:
            want = open(mode_file).read().strip()
        except OSError:
            want = "down"
        if want != mode:
            if server:
                server.shutdown()
                server.server_close()
                server = None
            if hole:
                hole.close()
                hole = None
            for c in held:
                c.close()
            held = []
            if want == "up":
                server = Server(("127.0.0.1", port), Handler)
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
            elif want == "blackhole":
                hole = listener(port)
                hole.setblocking(False)
            mode = want
            with LOCK:
                STATE["mode"] = mode
            write_state(state_file)
        if hole:
            while True:
                try:
                    c, _ = hole.accept()
                except BlockingIOError:
                    break
                held.append(c)   # never read, never answered
                with LOCK:
                    STATE["blackhole_connections"] += 1
                write_state(state_file)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
