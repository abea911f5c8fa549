"""The per-command latency histogram of Redis 7.0 (latency-tracking): an HDR
histogram as Redis makes it (hdr_init(1, 1000000000, 2): 1 ns to 1 s,
two significant digits), kept sparse.

Why not the ``hdrhistogram`` package: recording must cost next to nothing on
the request path (one per command; the trusted path's loop adds a run of
one command's counts up in C first), and what INFO latencystats and LATENCY
HISTOGRAM need of the structure is three index formulas and two walks over
the counts. A dict of counts
index -> count holds the same numbers as hdr_histogram.c's counts array
(3072 slots for this range), so the values reported are the same
HDR-rounded ones Redis reports (a 1 us command shows as 1.003, 3 us as
3.007).

Redis records ``duration_in_us * 1000`` nanoseconds, clamped to [1, 1e9]:
so does ``record`` (callers pass whole microseconds).
"""

MIN_VALUE = 1               # LATENCY_HISTOGRAM_MIN_VALUE (ns)
MAX_VALUE = 1000000000      # LATENCY_HISTOGRAM_MAX_VALUE (ns)
# Two significant digits: sub_bucket_count 256 (half 128), unit magnitude 0.
SUB_HALF_MAGNITUDE = 7
SUB_HALF = 128
# Buckets needed to reach MAX_VALUE: 256 << 22 > 1e9, so 23; counts_len is
# (buckets + 1) * sub_bucket_half_count.
COUNTS_LEN = 24 * SUB_HALF


def counts_index(v):
    """counts_index_for(v): the slot a value's count is kept in."""
    b = (v | 255).bit_length() - 8
    return ((b + 1) << SUB_HALF_MAGNITUDE) + (v >> b) - SUB_HALF


def value_at_index(i):
    """hdr_value_at_index: the lowest value of slot ``i``."""
    b = (i >> SUB_HALF_MAGNITUDE) - 1
    sub = (i & (SUB_HALF - 1)) + SUB_HALF
    if b < 0:
        sub -= SUB_HALF
        b = 0
    return sub << b


def highest_equivalent(v):
    """highest_equivalent_value: the top of the value's slot."""
    b = (v | 255).bit_length() - 8
    return ((v >> b) << b) + (1 << b) - 1


# Redis records us * 1000 ns, 0 us as LATENCY_HISTOGRAM_MIN_VALUE.
_SLOT_OF_US = tuple(counts_index(us * 1000 or MIN_VALUE) for us in range(1000))


def record_py(cmd, us, n=1):
    """Count ``n`` calls of ``us`` microseconds each into ``cmd.hist`` (a
    dict, made on the first call: updateCommandLatencyHistogram). The slot
    of a duration under 1 ms is looked up, not computed: this runs once per
    command, so ``record`` is the C version (_speedups.hdr_record), which
    must count the same."""
    if us < 1000:
        i = _SLOT_OF_US[us if us > 0 else 0]
    else:
        v = us * 1000
        i = counts_index(v if v < MAX_VALUE else MAX_VALUE)
    hist = cmd.hist
    if hist is None:
        cmd.hist = {i: n}
    else:
        hist[i] = hist.get(i, 0) + n


try:
    from ._speedups import hdr_record as record
except ImportError:     # without the C extension
    record = record_py


def value_at_percentile(hist, percentile):
    """hdr_value_at_percentile (in ns)."""
    total = sum(hist.values())
    p = percentile if percentile < 100.0 else 100.0
    wanted = int((p / 100) * total + 0.5)
    if wanted < 1:
        wanted = 1
    seen = 0
    value = 0
    for i in sorted(hist):
        seen += hist[i]
        if seen >= wanted:
            value = value_at_index(i)
            break
    if percentile == 0.0:
        return value
    return highest_equivalent(value)


def log_buckets(hist):
    """The walk of fillCommandCDF: hdr_iter_log_init(1024, 2), each step's
    (highest_equivalent_value in us, cumulative count), the steps where the
    cumulative count grew. The logarithmic iterator stops at the level whose
    slot lies past the counts, and once every count was passed."""
    total = sum(hist.values())
    slots = sorted(hist)
    out = []
    level = 1024
    cumulative = previous = 0
    k = 0
    while cumulative < total:
        top = counts_index(level)
        if top >= COUNTS_LEN:
            break
        while k < len(slots) and slots[k] <= top:
            cumulative += hist[slots[k]]
            k += 1
        if cumulative > previous:
            out.append((highest_equivalent(value_at_index(top)) // 1000, cumulative))
        previous = cumulative
        level <<= 1
    return out
