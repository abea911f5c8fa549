/* The inner loop of the GEO searches in C: decoding sorted set scores
 * into coordinates and testing them against a circle or a box, with the
 * arithmetic of Redis's geohash.c/geohash_helper.c (the same operations in
 * the same order, so the same doubles). pyredis/geohash.py has the same
 * functions in Python, used when this extension is not built; the tests
 * compare both. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#define GEO_LAT_MIN -85.05112878
#define GEO_LAT_MAX 85.05112878
#define GEO_LONG_MIN -180.0
#define GEO_LONG_MAX 180.0
#define GEO_STEP_MAX 26
#define D_R (M_PI / 180.0)

static const double EARTH_RADIUS_IN_METERS = 6372797.560856;

static inline uint64_t deinterleave64(uint64_t interleaved) {
    static const uint64_t B[] = {0x5555555555555555ULL, 0x3333333333333333ULL,
                                 0x0F0F0F0F0F0F0F0FULL, 0x00FF00FF00FF00FFULL,
                                 0x0000FFFF0000FFFFULL, 0x00000000FFFFFFFFULL};
    static const unsigned int S[] = {0, 1, 2, 4, 8, 16};
    uint64_t x = interleaved;
    uint64_t y = interleaved >> 1;
    for (int i = 0; i < 6; i++) {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    return x | (y << 32);
}

/* decodeGeohash + geohashDecodeAreaToLongLat. The score is converted as
 * Redis converts it ((uint64_t) of the double). */
static void decode_score(double score, double *xy) {
    uint64_t bits = (uint64_t)score;
    uint64_t hash_sep = deinterleave64(bits);
    double lat_scale = GEO_LAT_MAX - GEO_LAT_MIN;
    double long_scale = GEO_LONG_MAX - GEO_LONG_MIN;
    uint32_t ilato = (uint32_t)hash_sep;
    uint32_t ilono = (uint32_t)(hash_sep >> 32);
    double lat_min = GEO_LAT_MIN + (ilato * 1.0 / (1ull << GEO_STEP_MAX)) * lat_scale;
    double lat_max = GEO_LAT_MIN + ((ilato + 1) * 1.0 / (1ull << GEO_STEP_MAX)) * lat_scale;
    double long_min = GEO_LONG_MIN + (ilono * 1.0 / (1ull << GEO_STEP_MAX)) * long_scale;
    double long_max = GEO_LONG_MIN + ((ilono + 1) * 1.0 / (1ull << GEO_STEP_MAX)) * long_scale;
    xy[0] = (long_min + long_max) / 2;
    if (xy[0] > GEO_LONG_MAX) xy[0] = GEO_LONG_MAX;
    if (xy[0] < GEO_LONG_MIN) xy[0] = GEO_LONG_MIN;
    xy[1] = (lat_min + lat_max) / 2;
    if (xy[1] > GEO_LAT_MAX) xy[1] = GEO_LAT_MAX;
    if (xy[1] < GEO_LAT_MIN) xy[1] = GEO_LAT_MIN;
}

static inline double deg_rad(double ang) { return ang * D_R; }

static double geo_distance(double lon1d, double lat1d, double lon2d, double lat2d) {
    double lat1r, lon1r, lat2r, lon2r, u, v;
    lat1r = deg_rad(lat1d);
    lon1r = deg_rad(lon1d);
    lat2r = deg_rad(lat2d);
    lon2r = deg_rad(lon2d);
    u = sin((lat2r - lat1r) / 2);
    v = sin((lon2r - lon1r) / 2);
    return 2.0 * EARTH_RADIUS_IN_METERS *
           asin(sqrt(u * u + cos(lat1r) * cos(lat2r) * v * v));
}

static PyObject *py_decode(PyObject *self, PyObject *arg) {
    double score = PyFloat_AsDouble(arg);
    if (score == -1.0 && PyErr_Occurred()) return NULL;
    double xy[2];
    decode_score(score, xy);
    return Py_BuildValue("(dd)", xy[0], xy[1]);
}

static inline uint64_t interleave64(uint32_t xlo, uint32_t ylo) {
    static const uint64_t B[] = {0x5555555555555555ULL, 0x3333333333333333ULL,
                                 0x0F0F0F0F0F0F0F0FULL, 0x00FF00FF00FF00FFULL,
                                 0x0000FFFF0000FFFFULL};
    static const unsigned int S[] = {1, 2, 4, 8, 16};
    uint64_t x = xlo;
    uint64_t y = ylo;
    for (int i = 4; i >= 0; i--) {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    return x | (y << 1);
}

/* geohashEncodeWGS84 at GEO_STEP_MAX + geohashAlign52Bits: the score
 * GEOADD stores for coordinates already checked to be in range. */
static PyObject *py_encode(PyObject *self, PyObject *args) {
    double longitude, latitude;
    if (!PyArg_ParseTuple(args, "dd", &longitude, &latitude)) return NULL;
    double lat_offset = (latitude - GEO_LAT_MIN) / (GEO_LAT_MAX - GEO_LAT_MIN);
    double long_offset = (longitude - GEO_LONG_MIN) / (GEO_LONG_MAX - GEO_LONG_MIN);
    lat_offset *= (1ULL << GEO_STEP_MAX);
    long_offset *= (1ULL << GEO_STEP_MAX);
    uint64_t bits = interleave64(lat_offset, long_offset);
    bits <<= (52 - GEO_STEP_MAX * 2);
    return PyLong_FromUnsignedLongLong(bits);
}

/* geohashDecode with the WGS84 ranges: (lat_min, lat_max, long_min,
 * long_max) of a hash of ``step`` bits per coordinate. */
static PyObject *py_area(PyObject *self, PyObject *args) {
    unsigned long long bits;
    int step;
    if (!PyArg_ParseTuple(args, "Ki", &bits, &step)) return NULL;
    uint64_t hash_sep = deinterleave64(bits);
    double lat_scale = GEO_LAT_MAX - GEO_LAT_MIN;
    double long_scale = GEO_LONG_MAX - GEO_LONG_MIN;
    uint32_t ilato = (uint32_t)hash_sep;
    uint32_t ilono = (uint32_t)(hash_sep >> 32);
    return Py_BuildValue("(dddd)",
        GEO_LAT_MIN + (ilato * 1.0 / (1ull << step)) * lat_scale,
        GEO_LAT_MIN + ((ilato + 1) * 1.0 / (1ull << step)) * lat_scale,
        GEO_LONG_MIN + (ilono * 1.0 / (1ull << step)) * long_scale,
        GEO_LONG_MIN + ((ilono + 1) * 1.0 / (1ull << step)) * long_scale);
}

static PyObject *py_distance(PyObject *self, PyObject *args) {
    double a, b, c, d;
    if (!PyArg_ParseTuple(args, "dddd", &a, &b, &c, &d)) return NULL;
    return PyFloat_FromDouble(geo_distance(a, b, c, d));
}

/* filter(items, cx, cy, circle, radius_m, width_m, height_m, limit, out):
 * for each (score, member) of the iterable, append (dist, member, score,
 * lon, lat) to the list ``out`` when the point is inside the circle
 * (circle true: geohashGetDistanceIfInRadius) or the box
 * (geohashGetDistanceIfInRectangle); stop once ``out`` holds ``limit``
 * points (0: no limit), as geoGetPointsInRange does. */
static PyObject *py_filter(PyObject *self, PyObject *args) {
    PyObject *items, *out;
    double cx, cy, radius, width, height;
    int circle;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "OddpdddnO!", &items, &cx, &cy, &circle, &radius, &width,
                          &height, &limit, &PyList_Type, &out))
        return NULL;
    PyObject *it = PyObject_GetIter(items);
    if (it == NULL) return NULL;
    PyObject *item;
    while ((item = PyIter_Next(it)) != NULL) {
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            Py_DECREF(item);
            Py_DECREF(it);
            PyErr_SetString(PyExc_TypeError, "expected (score, member) tuples");
            return NULL;
        }
        PyObject *pscore = PyTuple_GET_ITEM(item, 0);
        PyObject *member = PyTuple_GET_ITEM(item, 1);
        double score = PyFloat_AsDouble(pscore);
        if (score == -1.0 && PyErr_Occurred()) {
            Py_DECREF(item);
            Py_DECREF(it);
            return NULL;
        }
        double xy[2], dist;
        int inside;
        decode_score(score, xy);
        if (circle) {
            dist = geo_distance(cx, cy, xy[0], xy[1]);
            inside = !(dist > radius);
        } else {
            double lon_distance = geo_distance(xy[0], xy[1], cx, xy[1]);
            double lat_distance = geo_distance(xy[0], xy[1], xy[0], cy);
            inside = !(lon_distance > width / 2 || lat_distance > height / 2);
            dist = inside ? geo_distance(cx, cy, xy[0], xy[1]) : 0;
        }
        if (inside) {
            PyObject *t = Py_BuildValue("(dOOdd)", dist, member, pscore, xy[0], xy[1]);
            if (t == NULL || PyList_Append(out, t) < 0) {
                Py_XDECREF(t);
                Py_DECREF(item);
                Py_DECREF(it);
                return NULL;
            }
            Py_DECREF(t);
        }
        Py_DECREF(item);
        if (limit && PyList_GET_SIZE(out) && PyList_GET_SIZE(out) >= limit) break;
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", py_decode, METH_O, "(lon, lat) of a GEO score."},
    {"encode", py_encode, METH_VARARGS, "The GEOADD score of (lon, lat)."},
    {"area", py_area, METH_VARARGS, "geohashDecode's area with the WGS84 ranges."},
    {"distance", py_distance, METH_VARARGS, "Redis's haversine distance in meters."},
    {"filter", py_filter, METH_VARARGS, "The points of a score range inside a shape."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_geo", "GEO search inner loop (geohash.c arithmetic).", -1,
    methods
};

PyMODINIT_FUNC PyInit__geo(void) {
    return PyModule_Create(&module);
}
