"""The cluster bus's binary messages (cluster.h's clusterMsg), sans-IO.

Every message starts with Redis 7.0's fixed ``RCmb`` header (2256 bytes,
network byte order): the sender's name, epochs, replication offset, slot
bitmap, master, ports, flags and cluster state; then a body by type:
gossip sections (104 bytes each) and the 7.0 ping extensions for
PING/PONG/MEET, a node name for FAIL, lengths and bytes for PUBLISH and
PUBLISHSHARD, epoch + name + bitmap for UPDATE, nothing for
FAILOVER_AUTH_REQUEST/ACK and MFSTART. ``encode`` turns a Message into
bytes, ``Reader`` cuts a byte stream into Messages (and says when a peer
sent something that is not the bus protocol: the link is then dropped, as
clusterReadHandler does). No sockets here: links.py moves the bytes.
"""

import struct

SIG = b'RCmb'
VERSION = 1
SLOTS_BYTES = 16384 // 8
NULL_NAME = b'\0' * 40
IP_LEN = 46         # NET_IP_STR_LEN

# Message types (CLUSTERMSG_TYPE_*).
PING, PONG, MEET, FAIL, PUBLISH, FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, UPDATE, \
    MFSTART, MODULE, PUBLISHSHARD = range(11)
TYPE_COUNT = 11
TYPE_NAMES = ('ping', 'pong', 'meet', 'fail', 'publish', 'auth-req', 'auth-ack', 'update',
              'mfstart', 'module', 'publishshard')

# mflags[0] bits.
FLAG0_PAUSED = 1        # the master paused its clients for a manual failover
FLAG0_FORCEACK = 2      # give the vote even if the master is up (FAILOVER FORCE)
FLAG0_EXT_DATA = 4      # the message carries ping extensions

# Ping extension types (clusterMsgPingtypes). 7.0 has the hostname only;
# the types later versions add (human node name, forgotten node, shard id)
# are kept as raw (type, payload) pairs and otherwise ignored, as 7.0 does.
EXT_HOSTNAME = 0

HEADER = struct.Struct('!4sIHHHHQQQ40s2048s40s46sH30sHHHB3s')
HEADER_LEN = HEADER.size            # 2256: CLUSTERMSG_MIN_LEN
GOSSIP = struct.Struct('!40sII46sHHHHH')
GOSSIP_LEN = GOSSIP.size            # 104
# sizeof(clusterMsg): the header plus the union's largest member (UPDATE).
FULL_LEN = HEADER_LEN + 8 + 40 + SLOTS_BYTES
EXT_HEADER = struct.Struct('!IHH')
MAX_LEN = 1 << 30


class BusError(Exception):
    """The peer does not speak the bus protocol: drop the link."""


def _name(raw):
    return raw.decode('latin-1')


def _cstr(raw):
    return raw.split(b'\0', 1)[0].decode('latin-1')


def _fixed(text, size):
    raw = text.encode('latin-1') if isinstance(text, str) else text
    return raw[:size].ljust(size, b'\0')


class Gossip:
    __slots__ = ('name', 'ping_sent', 'pong_received', 'ip', 'port', 'cport', 'flags', 'pport')

    def __init__(self, name, ping_sent, pong_received, ip, port, cport, flags, pport):
        self.name = name
        self.ping_sent = ping_sent
        self.pong_received = pong_received
        self.ip = ip
        self.port = port
        self.cport = cport
        self.flags = flags
        self.pport = pport

    def __repr__(self):
        return '<Gossip %s %s:%d@%d flags=%d>' % (self.name[:8], self.ip, self.port,
                                                  self.cport, self.flags)


class Message:
    """A decoded message: the header's fields plus the body of its type."""

    def __init__(self, type, sender='', current_epoch=0, config_epoch=0, offset=0,
                 myslots=bytes(SLOTS_BYTES), slaveof=None, myip='', port=0, pport=0,
                 cport=0, flags=0, state=0, mflags=0, count=0):
        self.type = type
        self.sender = sender
        self.current_epoch = current_epoch
        self.config_epoch = config_epoch
        self.offset = offset
        self.myslots = myslots
        self.slaveof = slaveof          # a name, or None for NULL_NAME
        self.myip = myip
        self.port = port
        self.pport = pport
        self.cport = cport
        self.flags = flags
        self.state = state
        self.mflags = mflags            # mflags[0]
        self.count = count
        self.ver = VERSION
        self.gossip = []
        self.extensions = []            # (type, payload bytes)
        self.hostname = None            # from EXT_HOSTNAME
        self.about = None               # FAIL: the failing node's name
        self.channel = self.message = None      # PUBLISH(SHARD)
        self.update_epoch = 0           # UPDATE: the owner's config epoch,
        self.update_name = None         # name
        self.update_slots = None        # and slot bitmap

    def __repr__(self):
        return '<Message %s from %s>' % (TYPE_NAMES[self.type] if self.type < TYPE_COUNT
                                         else self.type, self.sender[:8])


def ext_hostname(hostname):
    """The hostname extension: the name, a NUL, padded to 8 bytes."""
    raw = hostname.encode('latin-1') + b'\0'
    raw += b'\0' * (-len(raw) % 8)
    return EXT_HOSTNAME, raw


def encode(m):
    """The bytes of Message ``m`` (clusterBuildMessageHdr plus its body)."""
    body = []
    t = m.type
    if t in (PING, PONG, MEET):
        count = len(m.gossip)
        for g in m.gossip:
            body.append(GOSSIP.pack(_fixed(g.name, 40), g.ping_sent, g.pong_received,
                                    _fixed(g.ip, IP_LEN), g.port, g.cport, g.flags, g.pport, 0))
        mflags = m.mflags
        for etype, payload in m.extensions:
            body.append(EXT_HEADER.pack(8 + len(payload), etype, 0) + payload)
        if m.extensions:
            mflags |= FLAG0_EXT_DATA
        nexts = len(m.extensions)
    else:
        count = m.count
        mflags = m.mflags
        nexts = 0
        if t == FAIL:
            body.append(_fixed(m.about, 40))
        elif t in (PUBLISH, PUBLISHSHARD):
            body.append(struct.pack('!II', len(m.channel), len(m.message)))
            body.append(m.channel)
            body.append(m.message)
        elif t == UPDATE:
            body.append(struct.pack('!Q', m.update_epoch) + _fixed(m.update_name, 40)
                        + bytes(m.update_slots))
    payload = b''.join(body)
    totlen = HEADER_LEN + len(payload)
    head = HEADER.pack(SIG, totlen, VERSION, m.port, t, count, m.current_epoch,
                       m.config_epoch, m.offset, _fixed(m.sender, 40), bytes(m.myslots),
                       NULL_NAME if m.slaveof is None else _fixed(m.slaveof, 40),
                       _fixed(m.myip, IP_LEN), nexts, bytes(30), m.pport, m.cport, m.flags,
                       m.state, bytes((mflags & 0xff, 0, 0)))
    return head + payload


def _expected_len(t, buf, count, nexts, mflags0, totlen):
    """clusterProcessPacket's length check; None when the length is wrong."""
    if t in (PING, PONG, MEET):
        explen = HEADER_LEN + GOSSIP_LEN * count
        if mflags0 & FLAG0_EXT_DATA:
            pos = explen
            for _ in range(nexts):
                if pos + 8 > totlen:
                    return None
                extlen = EXT_HEADER.unpack_from(buf, pos)[0]
                if extlen % 8 or extlen < 8 or totlen - pos < extlen:
                    return None
                pos += extlen
            explen = pos
        return explen
    if t == FAIL:
        return HEADER_LEN + 40
    if t in (PUBLISH, PUBLISHSHARD):
        if totlen < HEADER_LEN + 8:
            return None
        clen, mlen = struct.unpack_from('!II', buf, HEADER_LEN)
        return HEADER_LEN + 8 + clen + mlen
    if t in (FAILOVER_AUTH_REQUEST, FAILOVER_AUTH_ACK, MFSTART):
        return HEADER_LEN
    if t == UPDATE:
        return HEADER_LEN + 8 + 40 + SLOTS_BYTES
    return totlen       # MODULE and unknown types: not checked here


def decode(buf):
    """A Message from one whole message's bytes; None when its length does
    not match its type (Redis ignores such a message, keeping the link)."""
    if len(buf) < HEADER_LEN:
        return None
    (sig, totlen, ver, port, t, count, cur, cfg, offset, sender, myslots, slaveof, myip,
     nexts, _, pport, cport, flags, state, mflags) = HEADER.unpack_from(buf, 0)
    if ver != VERSION:
        return None     # "Can't handle messages of different versions."
    if totlen != len(buf):
        return None
    if _expected_len(t, buf, count, nexts, mflags[0], totlen) != totlen:
        return None
    m = Message(t, _name(sender), cur, cfg, offset, myslots,
                None if slaveof == NULL_NAME else _name(slaveof), _cstr(myip), port, pport,
                cport, flags, state, mflags[0], count)
    if t in (PING, PONG, MEET):
        pos = HEADER_LEN
        for _ in range(count):
            name, ps, pr, ip, gport, gcport, gflags, gpport, _n = GOSSIP.unpack_from(buf, pos)
            m.gossip.append(Gossip(_name(name), ps, pr, _cstr(ip), gport, gcport, gflags,
                                   gpport))
            pos += GOSSIP_LEN
        if mflags[0] & FLAG0_EXT_DATA:
            for _ in range(nexts):
                extlen, etype, _u = EXT_HEADER.unpack_from(buf, pos)
                payload = bytes(buf[pos + 8:pos + extlen])
                m.extensions.append((etype, payload))
                if etype == EXT_HOSTNAME:
                    m.hostname = _cstr(payload)
                pos += extlen
    elif t == FAIL:
        m.about = _name(buf[HEADER_LEN:HEADER_LEN + 40])
    elif t in (PUBLISH, PUBLISHSHARD):
        clen, mlen = struct.unpack_from('!II', buf, HEADER_LEN)
        start = HEADER_LEN + 8
        m.channel = bytes(buf[start:start + clen])
        m.message = bytes(buf[start + clen:start + clen + mlen])
    elif t == UPDATE:
        m.update_epoch = struct.unpack_from('!Q', buf, HEADER_LEN)[0]
        m.update_name = _name(buf[HEADER_LEN + 8:HEADER_LEN + 48])
        m.update_slots = bytes(buf[HEADER_LEN + 48:HEADER_LEN + 48 + SLOTS_BYTES])
    return m


RCVBUF_INIT_LEN = 1024


class Reader:
    """Cuts a link's byte stream into whole messages (clusterReadHandler)."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        """The whole messages now available, as raw bytes; raises BusError
        when the stream is not the bus protocol."""
        buf = self.buf
        buf += data
        out = []
        while len(buf) >= 8:
            if buf[:4] != SIG:
                raise BusError('bad signature')
            totlen = int.from_bytes(buf[4:8], 'big')
            if totlen < HEADER_LEN or totlen > MAX_LEN:
                raise BusError('bad length %d' % totlen)
            if len(buf) < totlen:
                break
            out.append(bytes(buf[:totlen]))
            del buf[:totlen]
        return out

    def allocated(self):
        """What Redis's rcvbuf would hold (rcvbuf_alloc): RCVBUF_INIT_LEN,
        or the whole of a larger message being received."""
        buf = self.buf
        if len(buf) >= 8:
            return max(RCVBUF_INIT_LEN, int.from_bytes(buf[4:8], 'big'))
        return RCVBUF_INIT_LEN
