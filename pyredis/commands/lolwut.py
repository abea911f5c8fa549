"""LOLWUT [VERSION v] [args] (lolwut.c, lolwut5.c, lolwut6.c).

VERSION 5 draws Georg Nees's "Schotter" in braille characters, VERSION 6
a skyline in the terminal's four grays; any other version (and LOLWUT
without VERSION, this server being 7.0) answers the version line only, as
lolwutUnstableCommand does.

Both drawings are random in Redis (rand()); here they draw from Python's
random module with the same distributions, so only their deterministic
parts can match redis-server byte for byte: Schotter's first two rows of
squares (no rotation, no shift) and a skyline one row tall. The C code's
float (32-bit) arithmetic is kept where it decides which pixel is set:
``_f32`` rounds a value as storing it in a C float does.
"""

import math
import random
import struct

from . import command
from .. import resp
from ..config import REDIS_VERSION
from ..util import string2ll

RAND_MAX = 2147483647


def _f32(x):
    return struct.unpack('f', struct.pack('f', x))[0]


def _rand():
    return random.getrandbits(31)


class Canvas:
    def __init__(self, width, height, bg):
        self.width = width
        self.height = height
        self.pixels = bytearray([bg]) * (width * height)

    def draw(self, x, y, color):
        if 0 <= x < self.width and 0 <= y < self.height:
            self.pixels[x + y * self.width] = color

    def get(self, x, y):
        if 0 <= x < self.width and 0 <= y < self.height:
            return self.pixels[x + y * self.width]
        return 0

    def line(self, x1, y1, x2, y2, color):
        """lwDrawLine: Bresenham."""
        dx, dy = abs(x2 - x1), abs(y2 - y1)
        sx = 1 if x1 < x2 else -1
        sy = 1 if y1 < y2 else -1
        err = dx - dy
        while True:
            self.draw(x1, y1, color)
            if x1 == x2 and y1 == y2:
                break
            e2 = err * 2
            if e2 > -dy:
                err -= dy
                x1 += sx
            if e2 < dx:
                err += dx
                y1 += sy

    def square(self, x, y, size, angle, color):
        """lwDrawSquare: the corners on the circle that holds the square,
        starting at 45 degrees plus the rotation."""
        size = _f32(size / 1.4142135623)
        size = _f32(_c_round(size))
        k = _f32(math.pi / 4 + angle)
        px, py = [], []
        for _ in range(4):
            px.append(int(_c_round(math.sin(k) * size + x)))
            py.append(int(_c_round(math.cos(k) * size + y)))
            k = _f32(k + math.pi / 2)
        for j in range(4):
            self.line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color)


def _c_round(x):
    """C's round(): halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _trunc(x):
    """A C float converted to int."""
    return int(x)


# -- VERSION 5 ----------------------------------------------------------------------------

def schotter(cols, per_row, per_col):
    """lwDrawSchotter."""
    width = cols * 2
    padding = 2 if width > 4 else 0
    side = _f32((width - padding * 2) / per_row)
    height = _trunc(_f32(_f32(side * per_col) + padding * 2))
    canvas = Canvas(width, height, 0)
    for y in range(per_col):
        for x in range(per_row):
            sx = _trunc(_f32(_f32(_f32(x * side) + _f32(side / 2)) + padding))
            sy = _trunc(_f32(_f32(_f32(y * side) + _f32(side / 2)) + padding))
            angle = 0.0
            if y > 1:
                r1 = _f32(_f32(_f32(_f32(_rand()) / _f32(RAND_MAX)) / per_col) * y)
                r2 = _f32(_f32(_f32(_f32(_rand()) / _f32(RAND_MAX)) / per_col) * y)
                r3 = _f32(_f32(_f32(_f32(_rand()) / _f32(RAND_MAX)) / per_col) * y)
                if _rand() % 2:
                    r1 = -r1
                if _rand() % 2:
                    r2 = -r2
                if _rand() % 2:
                    r3 = -r3
                angle = r1
                sx = _trunc(_f32(sx + _f32(_f32(r2 * side) / 3)))
                sy = _trunc(_f32(sy + _f32(_f32(r3 * side) / 3)))
            canvas.square(sx, sy, side, angle, 1)
    return canvas


# The braille dot of each pixel of a 2x4 group (lwTranslatePixelsGroup).
_DOTS = ((0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 3), (1, 1, 4), (1, 2, 5), (0, 3, 6),
         (1, 3, 7))


def render_braille(canvas):
    out = []
    for y in range(0, canvas.height, 4):
        for x in range(0, canvas.width, 2):
            byte = 0
            for dx, dy, bit in _DOTS:
                if canvas.get(x + dx, y + dy):
                    byte |= 1 << bit
            out.append(chr(0x2800 + byte))
        if y != canvas.height - 1:
            out.append('\n')
    return ''.join(out).encode()


def lolwut5(argv):
    args = [66, 8, 12]
    for i, a in enumerate(argv[:3]):
        v = string2ll(a)
        if v is None:
            return resp.NOT_INT_ERR
        args[i] = v
    cols, per_row, per_col = (max(1, min(v, limit))
                              for v, limit in zip(args, (1000, 200, 200)))
    text = render_braille(schotter(cols, per_row, per_col))
    return text + b'\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. %s\n' % (
        REDIS_VERSION.encode())


# -- VERSION 6 ----------------------------------------------------------------------------

def skyscraper(canvas, xoff, width, height, windows, color):
    """generateSkyscraper."""
    starty = canvas.height - 1
    endy = starty - height + 1
    for y in range(starty, endy - 1, -1):
        for x in range(xoff, xoff + width):
            if y == endy and (x <= xoff + 1 or x >= xoff + width - 2):
                continue    # the roof is four pixels less wide
            c = color
            if windows and xoff + 1 < x < xoff + width - 2 and endy + 1 < y < starty - 1:
                relx = x - (xoff + 1)
                rely = y - (endy + 1)
                if (relx // 2) % 2 and rely % 2:
                    while True:
                        c = 1 + _rand() % 2
                        if c != color:
                            break
                    if relx % 2:
                        c = canvas.get(x - 1, y)
            canvas.draw(x, y, c)


def _cdiv(a, b):
    """C's integer division (towards zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def skyline(canvas):
    """generateSkyline: two passes of windowless background buildings, the
    lighter gray behind, then the foreground with windows."""
    h = canvas.height
    for color in (2, 1):
        offset = -10
        while offset < canvas.width:
            offset += _rand() % 8
            width = 10 + _rand() % 9
            if color == 2:
                height = h // 2 + _cdiv(_rand() % h, 2)
            else:
                height = h // 2 + _cdiv(_rand() % h, 3)
            skyscraper(canvas, offset, width, height, False, color)
            offset += width // 2 if color == 2 else width + 1
    offset = -10
    while offset < canvas.width:
        offset += _rand() % 8
        width = 5 + _rand() % 14
        if width % 4:
            width += width % 3
        height = h // 3 + _cdiv(_rand() % h, 2)
        skyscraper(canvas, offset, width, height, True, 0)
        offset += width + 5


_GRAYS = (b'0;30;40m', b'0;90;100m', b'0;37;47m', b'0;97;107m')


def render_grays(canvas):
    out = []
    for y in range(canvas.height):
        for x in range(canvas.width):
            c = canvas.get(x, y)
            out.append(b'\033[%s \033[0m' % (_GRAYS[c] if c < 4 else _GRAYS[0]))
        if y != canvas.height - 1:
            out.append(b'\n')
    return b''.join(out)


def lolwut6(argv):
    args = [80, 20]
    for i, a in enumerate(argv[:2]):
        v = string2ll(a)
        if v is None:
            return resp.NOT_INT_ERR
        args[i] = v
    cols, rows = (max(1, min(v, 1000)) for v in args)
    canvas = Canvas(cols, rows, 3)
    skyline(canvas)
    return render_grays(canvas) + (
        b'\nDedicated to the 8 bit game developers of past and present.\n'
        b'Original 8 bit image from Plaguemon by hikikomori. Redis ver. %s\n'
        % REDIS_VERSION.encode())


# -- LOLWUT -------------------------------------------------------------------------------

@command('lolwut')
def lolwut(c, argv):
    v = REDIS_VERSION
    args = argv[1:]
    if len(argv) >= 3 and argv[1].lower() == b'version':
        ver = string2ll(argv[2])
        if ver is None:
            return resp.NOT_INT_ERR
        v = '%d.0.0' % (ver & 0xffffffff)     # snprintf("%u.0.0", (unsigned) ver)
        args = argv[3:]
    v = v + '\0\0'
    if (v[0] == '5' and v[1] == '.' and v[2] != '9') or v.startswith('4.9'):
        text = lolwut5(args)
    elif (v[0] == '6' and v[1] == '.' and v[2] != '9') or v.startswith('5.9'):
        text = lolwut6(args)
    else:
        text = b'Redis ver. %s\n' % REDIS_VERSION.encode()
    if text[:1] == b'-':
        return text
    return resp.encode(resp.Verbatim(text), c.resp)
