"""SCAN cursors with Redis's guarantee, over Python containers.

Redis's SCAN walks the buckets of its hash table with a reverse-binary
cursor (dictScan): every element present for the whole iteration is
returned at least once, even if the table grows or shrinks in between, and
the cursor is just a number, so a client can abandon an iteration at no cost.

Python dicts and sets expose no buckets, so ``BucketIndex`` builds them:
the keys grouped by ``hash(key) & mask`` (Python's hash of bytes is stable
for the life of the process). The index is built on the first SCAN of a
container and then kept up to date by the container's add/remove paths,
which check one attribute when no scan ever happened. When the container
has grown or shrunk by a factor of four the index is rebuilt at the next
scan with a new size; the reverse-binary cursor keeps the guarantee across
that change exactly as it does across a Redis rehash.
"""

MIN_SIZE = 4
_M64 = (1 << 64) - 1
# Each byte value with its bits in reverse order.
_REV8 = bytes(int('{:08b}'.format(i)[::-1], 2) for i in range(256))


def _rev64(v):
    """The 64 bits of ``v`` in reverse order (Redis's rev())."""
    return int.from_bytes(v.to_bytes(8, 'little').translate(_REV8), 'big')


class BucketIndex:
    __slots__ = ('mask', 'buckets')

    def __init__(self, keys, count):
        size = MIN_SIZE
        while size < count:
            size <<= 1
        self.mask = size - 1
        self.buckets = [[] for _ in range(size)]
        mask = self.mask
        buckets = self.buckets
        for k in keys:
            buckets[hash(k) & mask].append(k)

    def add(self, key):
        self.buckets[hash(key) & self.mask].append(key)

    def remove(self, key):
        try:
            self.buckets[hash(key) & self.mask].remove(key)
        except ValueError:
            pass

    def fits(self, count):
        size = self.mask + 1
        return count <= size * 4 and (size == MIN_SIZE or count * 4 >= size // 4)

    def scan(self, cursor, count):
        """Visit buckets from ``cursor`` until about ``count`` keys were
        collected (at most count*10 buckets, as Redis bounds empty visits).
        Returns (next_cursor, keys)."""
        out = []
        mask = self.mask
        buckets = self.buckets
        maxiter = count * 10
        # dictScan's step, v |= ~mask; v = rev(v); v++; v = rev(v), is an
        # increment of the bucket's index read backwards (its low bits
        # reversed): so walk r, the reversed index, and reverse each r once
        # to find its bucket. Past the last r the cursor is 0: done.
        shift = 64 - mask.bit_length()
        r = _rev64(cursor & mask) >> shift
        while True:
            out.extend(buckets[_rev64(r) >> shift])
            r += 1
            maxiter -= 1
            if r > mask:
                return 0, out
            if maxiter <= 0 or len(out) >= count:
                return _rev64(r) >> shift, out


def scan_container(owner, attr, keys, count, cursor, length):
    """Scan a container whose owner stores its BucketIndex in ``attr``,
    building or resizing the index first if needed."""
    index = getattr(owner, attr)
    if index is None or not index.fits(length):
        index = BucketIndex(keys, length)
        setattr(owner, attr, index)
    return index.scan(cursor, count)
