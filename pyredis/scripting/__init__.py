"""Lua scripting (Redis 7.0's script.c, script_lua.c, eval.c, function_lua.c).

``engine`` holds a Lua 5.1 state (lupa's ``lupa.lua51``: the real Lua 5.1,
the version Redis embeds) with Redis's sandbox and ``redis`` API, the reply
conversions in both directions, and the run context through which
``redis.call`` reaches ``Server.call``. ``libs`` provides the libraries
Redis links into that state (cjson, cmsgpack, bit, struct).
"""
