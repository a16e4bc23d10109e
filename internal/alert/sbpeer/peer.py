#!/usr/bin/python3
"""sbpeer: a Service Bus stand-in for azdetect's tests.

A small AMQP 1.0 listener on Apache Qpid Proton (python3-qpid-proton) that
is enough of Azure Service Bus for the real azservicebus client:

  * SASL ANONYMOUS and PLAIN (any credentials; the mechanism is recorded);
  * claims-based security: put-token requests on $cbs are answered with
    status-code 202 (an int32, as the client insists); the token is never
    stored nor printed, only its audience and type;
  * links echo the client's addresses and settle modes; links the client
    sends on report a max message size (--max-message-size);
  * single messages and the batch format (data sections that each hold an
    encoded message) are stored per entity, with duplicate detection by
    message id (as an entity created with requiresDuplicateDetection);
  * receivers are served in peek-lock (settled on the client's disposition)
    and receive-and-delete mode, with drain; the management operation
    com.microsoft:update-disposition settles by lock token, and
    com.microsoft:peek-message answers 204 (nothing to peek);
  * a topic subscription "TOPIC/Subscriptions/NAME" is created the first
    time it is used and then holds every message sent to TOPIC, including
    those sent before (a test peer needs no subscription set-up).

Faults and inspection go through a line protocol on stdin; each command
gets one line on stdout (JSON). stdin at EOF stops the peer, so a test
process that dies takes its peer with it. Commands:

  busy N                next N sends are rejected with com.microsoft:server-busy
  refuse CONDITION      links to entities are detached with CONDITION (off: stop)
  close-mid-send N      next N sends close the connection before storing
  close-after-store N   next N sends are stored, then the connection closes
                        before the client hears of it (so the client retries)
  down                  close the listener and every connection (an outage)
  down-after N          go down right after acknowledging the next N sends
                        (an outage in the middle of an invocation)
  up                    listen again on the same port
  messages ENTITY       the messages an entity holds, oldest first
  stats                 counters
  reset                 forget messages, faults and counters
  quit                  stop

The first stdout line is {"ready": true, "port": PORT}. Diagnostics go to
stderr.
"""

import argparse
import errno
import json
import os
import select
import socket
import struct
import sys
import time
import traceback
import uuid

from proton import (Collector, Condition, Connection, Data, Delivery, Endpoint,
                    Event, Link, Message, Transport, int32, symbol, timestamp,
                    ulong)

SASL_HEADER = b"AMQP\x03\x01\x00\x00"
AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
MGMT_SUFFIX = "/$management"
CBS = "$cbs"


def log(*args):
    print("sbpeer:", *args, file=sys.stderr, flush=True)


# --- SASL, by hand: Proton's built-in SASL serves ANONYMOUS but not PLAIN ---

def sasl_frame(descriptor, fields):
    d = Data()
    d.put_described()
    d.enter()
    d.put_ulong(descriptor)
    d.put_list()
    d.enter()
    for put in fields:
        put(d)
    d.exit()
    d.exit()
    body = d.encode()
    return struct.pack(">IBBH", 8 + len(body), 2, 1, 0) + body


def sasl_mechanisms():
    def mechs(d):
        d.put_array(False, Data.SYMBOL)
        d.enter()
        d.put_symbol(symbol("ANONYMOUS"))
        d.put_symbol(symbol("PLAIN"))
        d.exit()
    return sasl_frame(0x40, [mechs])


def sasl_outcome_ok():
    return sasl_frame(0x44, [lambda d: d.put_ubyte(0)])


def parse_sasl_init(body):
    d = Data()
    d.decode(body)
    d.rewind()
    d.next()
    obj = d.get_object()  # Described(descriptor, [mechanism, initial-response, hostname])
    fields = list(obj.value)
    mech = str(fields[0]) if fields else ""
    user = ""
    if mech == "PLAIN" and len(fields) > 1 and fields[1] is not None:
        parts = bytes(fields[1]).split(b"\x00")
        if len(parts) >= 2:
            user = parts[1].decode("utf-8", "replace")
    return mech, user


# --- message sections -------------------------------------------------------

def sections(raw):
    """Split an encoded message into (descriptor, value-bytes) pairs."""
    out = []
    rest = raw
    while rest:
        d = Data()
        n = d.decode(rest)
        if n <= 0:
            break
        d.rewind()
        d.next()
        obj = d.get_object()
        out.append((int(obj.descriptor), obj.value))
        rest = rest[n:]
    return out


def is_encoded_message(b):
    return len(b) >= 3 and b[0] == 0x00 and b[1] == 0x53 and 0x70 <= b[2] <= 0x78


def split_batch(raw):
    """The messages a transfer carries: a batch (message format 0x80013700,
    which Proton's Python binding does not expose) has only data sections,
    each an encoded message; anything else is one message."""
    secs = sections(raw)
    datas = [v for (desc, v) in secs if desc == 0x75]
    if datas and all(is_encoded_message(bytes(v)) for v in datas):
        return [bytes(v) for v in datas]
    return [raw]


def text(v):
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    return str(v)


def jsonable(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, uuid.UUID):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


# --- the store ---------------------------------------------------------------

class Stored:
    def __init__(self, seq, raw, msg):
        self.seq = seq
        self.raw = raw
        self.msg = msg
        self.enqueued = time.time()
        self.lock = None  # (receiver key, lock token bytes) while locked
        self.delivery_count = 0


class Entity:
    def __init__(self, name):
        self.name = name
        self.queue = []       # Stored, oldest first
        self.log = []         # every accepted message (topic semantics)
        self.seen = {}        # message id -> time accepted
        self.subscriptions = {}


class Store:
    def __init__(self, dup_window):
        self.entities = {}
        self.dup_window = dup_window
        self.seq = 0

    def entity(self, path):
        key = path.lower()
        parts = key.split("/subscriptions/")
        if len(parts) == 2:
            topic = self.entity(parts[0])
            sub = topic.subscriptions.get(parts[1])
            if sub is None:
                sub = Entity(key)
                for s in topic.log:
                    sub.queue.append(self.copy(s))
                topic.subscriptions[parts[1]] = sub
            return sub
        e = self.entities.get(key)
        if e is None:
            e = self.entities[key] = Entity(key)
        return e

    def copy(self, s):
        self.seq += 1
        return Stored(self.seq, s.raw, s.msg)

    def accept(self, path, raw, msg):
        """Stores one message; False when it is a duplicate."""
        e = self.entity(path)
        mid = text(msg.id)
        now = time.time()
        for k, t in list(e.seen.items()):
            if now - t > self.dup_window:
                del e.seen[k]
        if mid is not None and mid in e.seen:
            return False
        if mid is not None:
            e.seen[mid] = now
        self.seq += 1
        s = Stored(self.seq, raw, msg)
        e.queue.append(s)
        e.log.append(s)
        for sub in e.subscriptions.values():
            sub.queue.append(self.copy(s))
        return True


# --- connections -------------------------------------------------------------

class Conn:
    def __init__(self, peer, sock, cid):
        self.peer = peer
        self.sock = sock
        self.id = cid
        self.buf = b""
        self.stage = "header"  # header -> sasl-init -> amqp
        self.closed = False
        self.conn = Connection()
        self.collector = Collector()
        self.conn.collect(self.collector)
        self.transport = Transport(Transport.SERVER)
        self.transport.bind(self.conn)
        self.reply_links = {}  # client reply address -> our sender link

    # I/O
    def fileno(self):
        return self.sock.fileno()

    def on_readable(self):
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.close("peer closed the socket")
            return
        if self.stage != "amqp":
            self.buf += data
            self.sasl()
            return
        self.push(data)

    def sasl(self):
        if self.stage == "header":
            if len(self.buf) < 8:
                return
            head, self.buf = self.buf[:8], self.buf[8:]
            if head == AMQP_HEADER:
                self.peer.stats["sasl_none"] += 1
                self.stage = "amqp"
                self.push(head + self.buf)
                self.buf = b""
                return
            if head != SASL_HEADER:
                self.close("bad protocol header %r" % head)
                return
            self.write(SASL_HEADER + sasl_mechanisms())
            self.stage = "sasl-init"
        if self.stage == "sasl-init":
            if len(self.buf) < 8:
                return
            size, doff = struct.unpack(">IB", self.buf[:5])
            if len(self.buf) < size:
                return
            frame, self.buf = self.buf[:size], self.buf[size:]
            mech, user = parse_sasl_init(frame[doff * 4:])
            if mech not in ("ANONYMOUS", "PLAIN"):
                self.close("SASL mechanism %s not offered" % mech)
                return
            self.peer.stats["sasl_" + mech.lower()] += 1
            log("connection %d: SASL %s%s" % (self.id, mech, (" user " + user) if user else ""))
            self.write(sasl_outcome_ok())
            self.stage = "amqp"
            if self.buf:
                rest, self.buf = self.buf, b""
                self.push(rest)

    def write(self, b):
        try:
            self.sock.sendall(b)
        except OSError as e:
            self.close("write: %s" % e)

    def push(self, data):
        while data and not self.closed:
            cap = self.transport.capacity()
            if cap < 0:
                self.close("transport closed for input")
                return
            n = min(cap, len(data)) if cap > 0 else len(data)
            self.transport.push(data[:n])
            data = data[n:]
            self.dispatch()
            self.flush()
        self.dispatch()
        self.flush()

    def flush(self):
        while not self.closed:
            p = self.transport.pending()
            if p < 0:
                self.close("transport closed for output")
                return
            if p == 0:
                return
            out = self.transport.peek(p)
            self.write(out)
            self.transport.pop(len(out))

    def tick(self, now):
        if self.closed or self.stage != "amqp":
            return
        self.transport.tick(now)
        self.flush()

    def close(self, why):
        if self.closed:
            return
        self.closed = True
        log("connection %d closed: %s" % (self.id, why))
        try:
            self.sock.close()
        except OSError:
            pass
        self.peer.forget(self)

    # events
    def dispatch(self):
        while not self.closed:
            ev = self.collector.peek()
            if ev is None:
                return
            try:
                self.handle(ev)
            finally:
                self.collector.pop()

    def handle(self, ev):
        t = ev.type
        if t == Event.CONNECTION_REMOTE_OPEN:
            self.conn.container = "sbpeer"
            self.conn.open()
        elif t == Event.SESSION_REMOTE_OPEN:
            ev.session.open()
        elif t == Event.LINK_REMOTE_OPEN:
            self.on_link_open(ev.link)
        elif t == Event.LINK_FLOW:
            if ev.link.is_sender:
                self.peer.pump()
        elif t == Event.DELIVERY:
            if ev.link.is_receiver:
                self.on_transfer(ev.delivery)
            else:
                self.peer.on_disposition(self, ev.delivery)
        elif t == Event.LINK_REMOTE_CLOSE:
            link = ev.link
            self.peer.unlock_link(self, link)
            if link.state & Endpoint.LOCAL_ACTIVE:
                link.close()
        elif t == Event.SESSION_REMOTE_CLOSE:
            if ev.session.state & Endpoint.LOCAL_ACTIVE:
                ev.session.close()
        elif t == Event.CONNECTION_REMOTE_CLOSE:
            if self.conn.state & Endpoint.LOCAL_ACTIVE:
                self.conn.close()
        elif t == Event.TRANSPORT_CLOSED:
            self.flush()
            self.close("transport closed")

    def on_link_open(self, link):
        src = link.remote_source.address
        tgt = link.remote_target.address
        link.source.address = src
        link.target.address = tgt
        link.snd_settle_mode = link.remote_snd_settle_mode
        link.rcv_settle_mode = link.remote_rcv_settle_mode
        addr = tgt if link.is_receiver else src
        self.peer.stats["links"] += 1
        special = addr == CBS or (addr or "").endswith(MGMT_SUFFIX)
        if not special and self.peer.refuse:
            link.open()
            link.condition = Condition(self.peer.refuse, "sbpeer: link refused on command")
            link.close()
            self.peer.stats["links_refused"] += 1
            log("connection %d: refused link to %s with %s" % (self.id, addr, self.peer.refuse))
            return
        if link.is_receiver:
            link.max_message_size = self.peer.max_message_size
            link.open()
            link.flow(1000)
        else:
            link.open()
            if special:
                self.reply_links[tgt] = link
            else:
                self.peer.receivers.append((self, link, src))
                self.peer.store.entity(src)
        log("connection %d: %s link %s to %s" % (self.id, "receiving" if link.is_receiver else "sending", link.name, addr))

    def on_transfer(self, dlv):
        link = dlv.link
        if dlv.partial:
            return
        raw = link.recv(dlv.pending) or b""
        link.advance()
        addr = link.target.address or ""
        if addr == CBS:
            self.on_cbs(raw)
            self.settle(dlv, Delivery.ACCEPTED)
        elif addr.endswith(MGMT_SUFFIX):
            self.on_management(addr[:-len(MGMT_SUFFIX)], raw)
            self.settle(dlv, Delivery.ACCEPTED)
        else:
            self.peer.on_send(self, dlv, addr, raw)

    def settle(self, dlv, state, condition=None):
        if condition is not None:
            dlv.local.condition = condition
        dlv.update(state)
        dlv.settle()

    def reply(self, request, status, description, body=None):
        link = self.reply_links.get(text(request.reply_to))
        if link is None:
            log("connection %d: no reply link for %s" % (self.id, request.reply_to))
            return
        m = Message()
        m.correlation_id = request.id
        m.properties = {"status-code": int32(status), "status-description": description}
        if body is not None:
            m.body = body
        self.peer.send_on(link, m.encode(), uuid.uuid4().hex)

    def on_cbs(self, raw):
        req = Message()
        req.decode(raw)
        props = req.properties or {}
        op = text(props.get("operation"))
        if op != "put-token":
            self.reply(req, 400, "sbpeer: unknown $cbs operation %s" % op)
            return
        audience = text(props.get("name"))
        kind = text(props.get("type"))
        self.peer.stats["tokens"] += 1
        self.peer.audiences.append(audience)
        log("connection %d: put-token %s for %s" % (self.id, kind, audience))
        self.reply(req, 202, "Accepted")

    def on_management(self, entity, raw):
        req = Message()
        req.decode(raw)
        props = req.properties or {}
        op = text(props.get("operation"))
        if op == "com.microsoft:update-disposition":
            body = req.body or {}
            tokens = body.get("lock-tokens") or body.get(symbol("lock-tokens")) or []
            status = text(body.get("disposition-status") or body.get(symbol("disposition-status")))
            n = self.peer.settle_tokens([uuid.UUID(str(t)) for t in tokens], status)
            log("connection %d: update-disposition %s on %d message(s)" % (self.id, status, n))
            self.reply(req, 200, "OK", {})
            return
        if op == "com.microsoft:peek-message":
            # Answered as Service Bus answers an entity with nothing to
            # peek (204): alerts tail peeks only to know the entity is
            # there before it waits.
            log("connection %d: peek-message on %s (answered: nothing to peek)" % (self.id, entity))
            self.reply(req, 204, "No Content")
            return
        self.reply(req, 501, "sbpeer: management operation %s is not implemented" % op)


class Peer:
    def __init__(self, args):
        self.host = args.host
        self.port = args.port
        self.max_message_size = args.max_message_size
        self.store = Store(args.duplicate_window)
        self.listener = None
        self.conns = []
        self.next_id = 0
        self.receivers = []   # (conn, link, entity path)
        # (connection id, link name, delivery tag) -> (entity, Stored, lock
        # token); Proton's Python wrappers are not stable, names are.
        self.locked = {}
        self.reset_faults()
        self.reset_stats()
        self.stdin_buf = b""
        self.running = True

    def reset_faults(self):
        self.busy = 0
        self.refuse = None
        self.close_mid_send = 0
        self.close_after_store = 0
        self.down_after = 0

    def reset_stats(self):
        self.audiences = []
        self.stats = {k: 0 for k in (
            "connections", "sasl_anonymous", "sasl_plain", "sasl_none", "tokens", "links",
            "links_refused", "transfers", "messages", "duplicates", "busy", "closed_mid_send",
            "closed_after_store", "delivered", "completed", "abandoned", "dead_lettered")}

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.listener = s

    def down(self):
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for c in list(self.conns):
            c.close("peer down on command")

    def forget(self, c):
        if c in self.conns:
            self.conns.remove(c)
        for r in [r for r in self.receivers if r[0] is c]:
            self.unlock_link(c, r[1])
        self.receivers = [r for r in self.receivers if r[0] is not c]

    # sending to the client
    def send_on(self, link, payload, tag):
        dlv = link.delivery(tag)
        link.send(payload)
        link.advance()
        if link.snd_settle_mode == Link.SND_SETTLED:
            dlv.settle()
        return dlv

    def pump(self):
        """Serves waiting messages to receivers with credit."""
        for (c, link, path) in list(self.receivers):
            if c.closed or not (link.state & Endpoint.LOCAL_ACTIVE) or not (link.state & Endpoint.REMOTE_ACTIVE):
                continue
            e = self.store.entity(path)
            presettled = link.snd_settle_mode == Link.SND_SETTLED
            while link.credit > 0:
                s = next((m for m in e.queue if m.lock is None), None)
                if s is None:
                    break
                # Proton's binding takes delivery tags as text, so the lock
                # token travels where Service Bus also puts it: the
                # delivery annotation x-opt-lock-token.
                token = uuid.uuid4()
                tag = token.hex
                msg = Message()
                msg.decode(s.raw)
                ann = dict(msg.annotations or {})
                ann[symbol("x-opt-sequence-number")] = s.seq
                ann[symbol("x-opt-enqueued-time")] = timestamp(int(s.enqueued * 1000))
                ann[symbol("x-opt-locked-until")] = timestamp(int((time.time() + 60) * 1000))
                msg.annotations = ann
                msg.instructions = {symbol("x-opt-lock-token"): token}
                s.delivery_count += 1
                if presettled:
                    e.queue.remove(s)
                else:
                    s.lock = (c.id, link.name, tag)
                    self.locked[s.lock] = (e, s, token)
                self.send_on(link, msg.encode(), tag)
                self.stats["delivered"] += 1
            if link.drain_mode and link.credit > 0:
                link.drained()
            c.flush()

    def on_disposition(self, c, dlv):
        key = (c.id, dlv.link.name, dlv.tag)
        found = self.locked.pop(key, None)
        if found is None:
            if dlv.remote_state and not dlv.settled:
                dlv.update(dlv.remote_state)
                dlv.settle()
            return
        e, s, _ = found
        self.finish(e, s, dlv.remote_state)
        dlv.update(dlv.remote_state)
        dlv.settle()
        self.pump()

    def finish(self, e, s, state):
        s.lock = None
        if state == Delivery.ACCEPTED or state == "completed":
            e.queue.remove(s)
            self.stats["completed"] += 1
        elif state == Delivery.REJECTED or state == "suspended":
            e.queue.remove(s)
            self.stats["dead_lettered"] += 1
        else:
            self.stats["abandoned"] += 1

    def settle_tokens(self, tokens, status):
        n = 0
        for key, (e, s, token) in list(self.locked.items()):
            if token in tokens:
                del self.locked[key]
                self.finish(e, s, status)
                n += 1
        return n

    def unlock_link(self, c, link):
        name = link.name
        for key in [k for k in self.locked if k[0] == c.id and k[1] == name]:
            e, s, _ = self.locked.pop(key)
            s.lock = None

    # receiving from the client
    def on_send(self, c, dlv, path, raw):
        self.stats["transfers"] += 1
        if self.close_mid_send > 0:
            self.close_mid_send -= 1
            self.stats["closed_mid_send"] += 1
            c.close("closed mid-send on command")
            return
        if self.busy > 0:
            self.busy -= 1
            self.stats["busy"] += 1
            c.settle(dlv, Delivery.REJECTED, Condition("com.microsoft:server-busy", "sbpeer: server busy on command"))
            c.flush()
            return
        if len(raw) > self.max_message_size:
            c.settle(dlv, Delivery.REJECTED, Condition("amqp:link:message-size-exceeded",
                                                       "sbpeer: %d bytes, max %d" % (len(raw), self.max_message_size)))
            return
        for inner in split_batch(raw):
            msg = Message()
            msg.decode(inner)
            if self.store.accept(path, inner, msg):
                self.stats["messages"] += 1
            else:
                self.stats["duplicates"] += 1
                log("duplicate message id %s dropped on %s" % (text(msg.id), path))
        if self.close_after_store > 0:
            self.close_after_store -= 1
            self.stats["closed_after_store"] += 1
            c.close("closed after store on command")
            return
        c.settle(dlv, Delivery.ACCEPTED)
        if self.down_after > 0:
            self.down_after -= 1
            if self.down_after == 0:
                c.flush()
                log("going down after a send, on command")
                self.down()
                return
        self.pump()

    # control
    def command(self, line):
        words = line.split()
        if not words:
            return {"error": "empty command"}
        op, args = words[0], words[1:]
        try:
            if op == "busy":
                self.busy = int(args[0])
            elif op == "refuse":
                self.refuse = None if args[0] == "off" else args[0]
            elif op == "close-mid-send":
                self.close_mid_send = int(args[0])
            elif op == "close-after-store":
                self.close_after_store = int(args[0])
            elif op == "down-after":
                self.down_after = int(args[0])
            elif op == "down":
                self.down()
            elif op == "up":
                if self.listener is None:
                    self.listen()
            elif op == "messages":
                e = self.store.entity(args[0])
                return {"messages": [self.describe(s) for s in e.queue]}
            elif op == "stats":
                out = dict(self.stats)
                out["audiences"] = self.audiences
                out["connections_open"] = len(self.conns)
                return out
            elif op == "reset":
                self.store = Store(self.store.dup_window)
                self.locked = {}
                self.reset_faults()
                self.reset_stats()
            elif op == "quit":
                self.running = False
            else:
                return {"error": "unknown command %s" % op}
        except (IndexError, ValueError) as e:
            return {"error": "%s: %s" % (op, e)}
        return {"ok": True}

    def describe(self, s):
        m = s.msg
        return {
            "sequence_number": s.seq,
            "message_id": text(m.id),
            "subject": text(m.subject),
            "content_type": text(m.content_type),
            "application_properties": jsonable(m.properties or {}),
            "body": text(m.body),
            "delivery_count": s.delivery_count,
            "locked": s.lock is not None,
        }

    def on_stdin(self):
        data = os.read(0, 65536)
        if not data:
            self.running = False
            return
        self.stdin_buf += data
        while b"\n" in self.stdin_buf:
            line, self.stdin_buf = self.stdin_buf.split(b"\n", 1)
            reply = self.command(line.decode("utf-8", "replace").strip())
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()

    def run(self):
        self.listen()
        sys.stdout.write(json.dumps({"ready": True, "port": self.port}) + "\n")
        sys.stdout.flush()
        log("listening on %s:%d" % (self.host, self.port))
        while self.running:
            rs = [0] + self.conns + ([self.listener] if self.listener else [])
            try:
                readable, _, _ = select.select(rs, [], [], 0.05)
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            for r in readable:
                if r == 0:
                    self.on_stdin()
                elif r is self.listener:
                    sock, _ = self.listener.accept()
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.next_id += 1
                    self.stats["connections"] += 1
                    self.conns.append(Conn(self, sock, self.next_id))
                elif not r.closed:
                    try:
                        r.on_readable()
                    except Exception:  # a peer bug ends one connection, not the peer
                        log("connection %d failed:\n%s" % (r.id, traceback.format_exc()))
                        r.close("internal error in sbpeer")
            now = time.time()
            for c in list(self.conns):
                c.tick(now)
        self.down()


def main():
    p = argparse.ArgumentParser(description="Service Bus test peer (AMQP 1.0, Qpid Proton)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: a free port, printed on the first stdout line")
    p.add_argument("--max-message-size", type=int, default=256 * 1024,
                   help="max message size reported on attach (Service Bus Standard: 256 KiB)")
    p.add_argument("--duplicate-window", type=float, default=600.0,
                   help="seconds a message id is remembered for duplicate detection")
    Peer(p.parse_args()).run()


if __name__ == "__main__":
    main()
