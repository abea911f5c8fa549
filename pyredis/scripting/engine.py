"""A Lua state as Redis 7.0 builds one (script_lua.c), and the run of a script
through it (script.c).

The interpreter is lupa's ``lupa.lua51``: the real Lua 5.1. What Redis
changes in its own copy of Lua is rebuilt around it in Lua itself, by the
bootstrap chunk below, run once per state:

* Protected globals. Redis 7.0 marks the globals table and every table
  reachable from it read-only inside the VM. Stock Lua has no such flag, so
  scripts run in an *environment proxy*: an empty table whose ``__index``
  is the table of the allowed globals (``SG``, whose own ``__index`` raises
  "Script attempted to access nonexistent global variable") and whose
  ``__newindex`` raises "Attempt to modify a readonly table"; the libraries
  (string, math, redis, cjson...) are proxied the same way. ``next``,
  ``pairs``, ``rawget`` and ``rawset`` see through the proxies (rawset
  refuses them), and ``loadstring``/``load`` give the chunks they compile
  the same environment (and refuse precompiled chunks, as Redis's Lua
  does). The runtime's own globals table, which lupa uses, is never seen by
  scripts. Reads cost one table hop more than a plain global.
* The allow list: scripts see only the globals 7.0.15 keeps (no ``print``,
  ``os``, ``io``, ``require``, ``dofile``, ``loadfile``, ``debug``,
  ``getfenv``/``setfenv``/``newproxy``).
* ``redis.call``/``redis.pcall`` and the rest of the API that can fail are
  Python callables (ScriptHost's ``lua_call`` etc.): a call to one is a C
  call for Lua, so the caller's frame survives ``return redis.call(...)``
  (a tail call to a Lua wrapper would replace it and lose the error's
  line). They raise ScriptRaise; the error handler (``__redis__err__handler``)
  turns it into Redis's error table and adds the user frame's source and
  line, so errors read as Redis's do: ``ERR ... script: <sha>, on
  @user_script:<line>.`` ``type``/``tostring`` show them as functions.
  With the C extension, redis.call is a C function of its own (loaded with
  ``package.loadlib``, given by ``fast.open``), which runs the common call
  itself and hands the rest to these callables.
* A script's result is returned to Python as is when it is a string or a
  number, else encoded in Lua (``emit``, with raw lookups as
  luaReplyToRedisReply).
* A count hook every 100,000 instructions (as Redis's luaMaskCountHook),
  set once for the state, calls ``ScriptHost.interrupt`` while a script
  runs: the busy-reply-threshold and SCRIPT KILL machinery (busy.py), and
  FUNCTION LOAD's 500 ms limit.

Python objects reach scripts only as opaque userdata: lupa's attribute
filter refuses every attribute, and no ``python`` module is registered.
"""

import hashlib
import math

import lupa.lua51 as lupa

from .. import log
from ..commands import DISPATCH
from . import libs
from .libs import ScriptRaise

try:
    from .. import _scripting
except ImportError:     # without the C extension
    _scripting = None

INTERNAL = b'=[redis]'

# The globals a script sees in Redis 7.0.15 (pairs(_G) on a fresh server).
ALLOWED_GLOBALS = (
    '_G _VERSION __redis__err__handler assert bit cjson cmsgpack collectgarbage '
    'coroutine error gcinfo getmetatable ipairs load loadstring math next pairs pcall '
    'rawequal rawget rawset redis select setmetatable string struct table tonumber '
    'tostring type unpack xpcall').split()

BOOTSTRAP = r'''
local pycall, pypcall, pyerr, pyhook, pyapi, pyrandom, pyrandomseed, libsetup, version,
      vernum, pyregister, pysresp, fast = ...
local G = _G
local type, error, rawget, rawset, next, tostring, setmetatable, select =
      type, error, rawget, rawset, next, tostring, setmetatable, select
local tonumber, xpcall, pairs, ipairs, getmetatable = tonumber, xpcall, pairs, ipairs,
      getmetatable
local floor = math.floor
local real_loadstring, real_load, setfenv, real_pcall = loadstring, load, setfenv, pcall
local sformat, concat, sgsub, ssub, sfind, sbyte = string.format, table.concat,
      string.gsub, string.sub, string.find, string.byte
local dbg = debug
local INTERNAL = '=[redis]'
local huge = math.huge

local proxies = setmetatable({}, {__mode = 'k'})    -- proxy -> protected table

local function ro_error()
  error('Attempt to modify a readonly table', 2)
end

local function protect(real)
  local p = setmetatable({}, {__index = real, __newindex = ro_error, __metatable = false})
  proxies[p] = real
  proxies[real] = real
  return p
end

-- redis.* ------------------------------------------------------------------

local redis = {}

local function raise(msg, ignore)
  local e = {err = msg}
  if ignore then e.ignore_error_stats_update = true end
  error(e)
end

-- Python callables: a call from Lua to them is a C call, so the caller's
-- frame survives `return redis.call(...)` (a tail call to a Lua function
-- would replace it, and the error would lose its line).
redis.call = pycall
redis.pcall = pypcall

-- luaPushErrorBuff: "-CODE msg" or "msg" (code ERR), trailing CR/LF trimmed.
local function error_table(s)
  local code, msg
  if ssub(s, 1, 1) == '-' then
    local sp = sfind(s, ' ', 1, true)
    if sp then code, msg = ssub(s, 2, sp - 1), ssub(s, sp + 1)
    else code, msg = 'ERR', ssub(s, 2) end
  else
    code, msg = 'ERR', s
  end
  msg = sgsub(sgsub(msg, '^[\r\n]+', ''), '[\r\n]+$', '')
  return {err = code .. ' ' .. msg}
end

redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  if ssub(s, 1, 1) ~= '-' then s = '-' .. s end
  return error_table(s)
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return error_table('wrong number or type of arguments')
  end
  return {ok = s}
end

redis.sha1hex = pyapi.sha1hex
redis.log = pyapi.log
redis.setresp = pyapi.setresp
redis.set_repl = pyapi.set_repl

redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end

redis.acl_check_cmd = pyapi.acl

redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = vernum
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL =
  0, 1, 2, 2, 3

-- math.random on Redis's rand48 ----------------------------------------------

math.random = pyrandom
math.randomseed = pyrandomseed

-- libraries -----------------------------------------------------------------

libsetup(G)

-- the sandbox -----------------------------------------------------------------

-- What scripts see: SG, a table of the allowed globals only, behind the
-- proxy ENV. (The runtime's own globals table keeps what lupa needs.)
local SG = {}
local ENV = protect(SG)

-- redis.call in C (fast.open's), when there is one.
local fastcall

local function err_handler(err)
  local lvl = 2
  local i = dbg.getinfo(lvl, 'nSl')
  if i and i.what == 'C' then
    lvl = 3
    i = dbg.getinfo(lvl, 'nSlf')
    -- (The C redis.call hands what it does not run itself to a Python
    -- callable: one C frame more between the error and the script.)
    if fastcall and i and i.func == fastcall then
      lvl = 4
      i = dbg.getinfo(lvl, 'nSl')
    end
  end
  while i and i.source == INTERNAL do
    lvl = lvl + 1
    i = dbg.getinfo(lvl, 'nSl')
  end
  if type(err) == 'userdata' then
    err = pyerr(err)
    if rawget(err, 'where') then
      rawset(err, 'where', nil)
      local pos = ''
      if i and i.currentline > 0 then pos = i.short_src .. ':' .. i.currentline .. ': ' end
      rawset(err, 'err', 'ERR ' .. pos .. rawget(err, 'err'))
    end
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if i then
    rawset(err, 'source', i.source)
    rawset(err, 'line', i.currentline)
  end
  return err
end

-- Redis's Lua refuses precompiled chunks (a text chunk cannot start with
-- ESC): the same error as its parser gives, with Lua's chunk name rules.
local function chunkid(source)
  local c = ssub(source, 1, 1)
  if c == '=' then return ssub(source, 2, 60) end
  if c == '@' then
    source = ssub(source, 2)
    if #source > 59 - 3 then return '...' .. ssub(source, -(59 - 3)) end
    return source
  end
  local z = sfind(source, '\0', 1, true)
  local cs = z and ssub(source, 1, z - 1) or source
  local stop = sfind(cs, '[\n\r]')
  local line = stop and ssub(cs, 1, stop - 1) or cs
  if #line > 43 then line = ssub(line, 1, 43) end
  if #line < #cs then return '[string "' .. line .. '..."]' end
  return '[string "' .. line .. '"]'
end

local function text_loadstring(s, name)
  if type(s) == 'string' and sbyte(s, 1) == 27 then
    return nil, chunkid(name or s) .. ":1: unexpected symbol near 'char(27)'"
  end
  return real_loadstring(s, name)
end

local function unproxy(t)
  return proxies[t] or t
end

local my_next = function(t, k) return next(unproxy(t), k) end
SG.next = my_next
SG.pairs = function(t)
  if proxies[t] then return my_next, t, nil end
  return pairs(t)
end
SG.rawget = function(t, k) return rawget(unproxy(t), k) end
SG.rawset = function(t, k, v)
  if proxies[t] then error('Attempt to modify a readonly table', 0) end
  return rawset(t, k, v)
end
SG.loadstring = function(s, name)
  local f, e = text_loadstring(s, name)
  if f then setfenv(f, ENV) end
  return f, e
end
SG.load = function(fn, name)
  if type(fn) ~= 'function' then return real_load(fn, name) end
  local parts = {}
  while true do
    local piece = fn()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  local f, e = text_loadstring(concat(parts), name or '=(load)')
  if f then setfenv(f, ENV) end
  return f, e
end
-- luaRedisPcall: an error table with an 'err' string fails with the string.
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'userdata' then
    e = pyerr(e)
    if rawget(e, 'where') then
      local i = dbg.getinfo(3, 'Sl')
      local pos = ''
      if i and i.currentline > 0 then pos = i.short_src .. ':' .. i.currentline .. ': ' end
      return false, pos .. rawget(e, 'err')
    end
  end
  if type(e) == 'table' then
    local m = e.err
    if type(m) == 'string' or type(m) == 'number' then e = m end
  end
  return false, e
end
SG.pcall = function(f, ...) return pcall_result(real_pcall(f, ...)) end
-- The API's Python callables are userdata to Lua; scripts see functions.
local api_functions = {}
for _, f in next, redis do
  if type(f) == 'userdata' then api_functions[f] = true end
end
api_functions[pyrandom] = true
api_functions[pyrandomseed] = true
for _, lib in ipairs({'cjson', 'cmsgpack', 'bit', 'struct'}) do
  for _, f in next, G[lib] do
    if type(f) == 'userdata' and f ~= G.cjson.null then api_functions[f] = true end
  end
end
SG.type = function(...)
  if select('#', ...) == 0 then error("bad argument #1 to 'type' (value expected)", 2) end
  local v = ...
  if api_functions[v] then return 'function' end
  return type(v)
end
-- (and print as functions: a Lua function's address stands for each)
for f in next, api_functions do api_functions[f] = tostring(function() end) end
local shown = {[G.cjson.null] = 'userdata: (nil)'}    -- (a NULL light userdata)
for f, name in next, api_functions do shown[f] = name end
SG.tostring = function(...)
  local name = shown[...]
  if name then return name end
  return tostring(...)
end

G.redis = redis
G.__redis__err__handler = err_handler

-- Only the allowed globals are copied; the libraries as read-only proxies,
-- and the string metatable's __index too.
local libraries = {string = 1, math = 1, table = 1, coroutine = 1, redis = 1, cjson = 1,
                   bit = 1, struct = 1, cmsgpack = 1}
for i = 14, select('#', ...) do
  local name = select(i, ...)
  if rawget(SG, name) == nil then
    local v = rawget(G, name)
    if libraries[name] and v then v = protect(v) end
    rawset(SG, name, v)
  end
end
getmetatable('').__index = rawget(SG, 'string')
rawset(SG, '_G', ENV)
setmetatable(SG, {
  __index = function(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
  __newindex = ro_error,
})

-- The count hook (luaMaskCountHook) stays set: it asks Python only while
-- a script runs (running[1], which the C run sets too), so no run pays
-- for setting it.
local running = {false}
local in_load = false
local function hook()
  if not running[1] then
    -- FUNCTION LOAD's own limit (luaEngineLoadHook): 500 ms.
    if in_load and pyhook(true) then
      dbg.sethook(hook, 'l')
      error({err = 'ERR FUNCTION LOAD timeout'})
    end
    return
  end
  local msg = pyhook()
  if msg then
    dbg.sethook(hook, 'l')
    error({err = msg})
  end
end
dbg.sethook(hook, '', 100000)
local function reset_hook()
  dbg.sethook(hook, '', 100000)
end

-- double formatting as addReplyDouble
local function double(d, resp)
  local s
  if d == huge then s = 'inf' elseif d == -huge then s = '-inf'
  else s = sformat('%.17g', d) end
  if resp == 3 then return ',' .. s .. '\r\n' end
  return '$' .. #s .. '\r\n' .. s .. '\r\n'
end

local function noCRLF(s)
  return (sgsub(s, '[\r\n]', ' '))
end

local function cstr(s)
  local z = sfind(s, '\0', 1, true)
  if z then return ssub(s, 1, z - 1) end
  return s
end

local emit
emit = function(v, out, resp, sresp)
  local t = type(v)
  if t == 'string' then
    out[#out + 1] = '$' .. #v .. '\r\n'
    out[#out + 1] = v
    out[#out + 1] = '\r\n'
  elseif t == 'number' then
    out[#out + 1] = sformat(':%d\r\n', v)
  elseif t == 'boolean' then
    if sresp == 2 then
      if v then out[#out + 1] = ':1\r\n'
      elseif resp == 2 then out[#out + 1] = '$-1\r\n'
      else out[#out + 1] = '_\r\n' end
    elseif resp == 3 then
      out[#out + 1] = v and '#t\r\n' or '#f\r\n'
    else
      out[#out + 1] = v and ':1\r\n' or ':0\r\n'
    end
  elseif t == 'table' then
    local f = rawget(v, 'err')
    if type(f) == 'string' then
      local s = noCRLF(sgsub(sgsub('-' .. cstr(f), '^[\r\n]+', ''), '[\r\n]+$', ''))
      out[#out + 1] = s .. '\r\n'
      return rawget(v, 'ignore_error_stats_update')
    end
    f = rawget(v, 'ok')
    if type(f) == 'string' then
      out[#out + 1] = '+' .. noCRLF(cstr(f)) .. '\r\n'
      return
    end
    f = rawget(v, 'double')
    if type(f) == 'number' then
      out[#out + 1] = double(f, resp)
      return
    end
    f = rawget(v, 'big_number')
    if type(f) == 'string' then
      f = noCRLF(f)
      if resp == 3 then out[#out + 1] = '(' .. f .. '\r\n'
      else out[#out + 1] = '$' .. #f .. '\r\n' .. f .. '\r\n' end
      return
    end
    f = rawget(v, 'verbatim_string')
    if type(f) == 'table' then
      local fmt, s = rawget(f, 'format'), rawget(f, 'string')
      if type(fmt) == 'string' and type(s) == 'string' then
        if resp == 3 then
          fmt = ssub(cstr(fmt) .. '   ', 1, 3)
          out[#out + 1] = '=' .. (#s + 4) .. '\r\n' .. fmt .. ':' .. s .. '\r\n'
        else
          out[#out + 1] = '$' .. #s .. '\r\n' .. s .. '\r\n'
        end
        return
      end
    end
    f = rawget(v, 'map')
    if type(f) == 'table' then
      local at = #out + 1
      out[at] = ''
      local n = 0
      for k, x in next, f do
        emit(k, out, resp, sresp)
        emit(x, out, resp, sresp)
        n = n + 1
      end
      out[at] = resp == 3 and ('%' .. n .. '\r\n') or ('*' .. 2 * n .. '\r\n')
      return
    end
    f = rawget(v, 'set')
    if type(f) == 'table' then
      local at = #out + 1
      out[at] = ''
      local n = 0
      for k in next, f do
        emit(k, out, resp, sresp)
        n = n + 1
      end
      out[at] = (resp == 3 and '~' or '*') .. n .. '\r\n'
      return
    end
    local at = #out + 1
    out[at] = ''
    local j = 1
    while true do
      local x = rawget(v, j)
      if x == nil then break end
      emit(x, out, resp, sresp)
      j = j + 1
    end
    out[at] = '*' .. (j - 1) .. '\r\n'
  else
    out[#out + 1] = resp == 3 and '_\r\n' or '$-1\r\n'
  end
end

local function toresp(v, resp, sresp)
  local out = {}
  local ignore = emit(v, out, resp, sresp)
  return concat(out), ignore
end

-- Runs a compiled script: the value alone when it is a string or a number
-- (Python encodes it: one value is the cheapest to hand back), else (true,
-- reply bytes, ignore-stats) for the rest, (false, error table, nil) on
-- error. The script's RESP version is asked for only when it matters
-- (booleans).
local function finish(resp, ok, v)
  if ok then
    local t = type(v)
    if t == 'string' or t == 'number' then return v end
    local sresp = 2
    if t == 'boolean' or t == 'table' then sresp = pysresp() end
    local out = {}
    local ignore = emit(v, out, resp, sresp)
    return true, concat(out), ignore or false
  end
  return false, v, nil
end

-- KEYS and ARGV: new tables for every run, as Redis builds them (Python
-- makes them with table_from: any number of arguments, where a call's
-- arguments are limited by the C stack).
local function run(f, resp, keys, args)
  rawset(SG, 'KEYS', keys)
  rawset(SG, 'ARGV', args)
  -- (running is cleared on the line of the call: after a kill the hook
  -- fires on every new line, and must not raise here.)
  running[1] = true local ok, v = xpcall(f, err_handler) running[1] = false
  if ok then
    local t = type(v)
    if t == 'string' or t == 'number' then return v end
  end
  return finish(resp, ok, v)
end

local function call_function(f, resp, keys, args)
  local function call() return f(keys, args) end
  running[1] = true local ok, v = xpcall(call, err_handler) running[1] = false
  return finish(resp, ok, v)
end

local function compile(body, name)
  local f, e = text_loadstring(body, name or '@user_script')
  if not f then return nil, e end
  setfenv(f, ENV)
  return f
end

-- Function libraries (function_lua.c). While FUNCTION LOAD runs a library's
-- code, its environment shows only the library API (redis.register_function,
-- redis.log, the LOG_ and version fields); the functions it registers keep
-- that environment, which shows the full API when they run.
local err_mt = getmetatable(SG)
local load_redis = setmetatable({register_function = pyregister, log = pyapi.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = vernum}, err_mt)
local LOADAPI = setmetatable({redis = protect(load_redis)}, err_mt)
local fenv_mt = {__index = SG, __newindex = ro_error, __metatable = false}
local FENV = setmetatable({}, fenv_mt)
proxies[FENV] = SG

local function load_handler(err)
  if type(err) == 'userdata' then return pyerr(err) end
  if type(err) ~= 'table' then return {err = 'ERR ' .. tostring(err)} end
  return err
end

-- (nil, 'compile', message) or (nil, 'run', error table) or (true).
local function load_library(code)
  local f, e = text_loadstring(code, '@user_function')
  if not f then return nil, 'compile', e end
  setfenv(f, FENV)
  fenv_mt.__index = LOADAPI
  in_load = true local ok, err = xpcall(f, load_handler) in_load = false
  fenv_mt.__index = SG
  reset_hook()
  if not ok then return nil, 'run', err end
  return true
end

-- lupa runs every call from Python with the runtime's debug.traceback as
-- the error handler when a 'debug' global exists (a global lookup, a field
-- lookup and two stack moves per call). Every call here catches its own
-- errors (xpcall), and this chunk keeps its own reference (dbg).
G.debug = nil

-- The C run (_scripting.c's Caller.run) calls a compiled script itself,
-- by its number in fns (keep), with err_handler, KEYS and ARGV set as run
-- sets them; a table result or an error is left in box for finish_boxed,
-- which Python calls as it calls run.
local fns, box = {}, {}
local function keep(f)
  local id = #fns + 1
  fns[id] = f
  return id
end
local function finish_boxed(resp, ok)
  local v = box[1]
  box[1] = nil
  return finish(resp, ok, v)
end
if fast then
  fastcall = fast.open(0.5, SG, err_handler, running, fns, box, fast.general, fast.convert,
                       fast.reraise, pycall)
  if fastcall then redis.call = fastcall end
end

return run, compile, call_function, toresp, load_library, protect, SG, ENV, reset_hook, keep,
       finish_boxed
'''


# Script flags (script.h): shebang flags of EVAL scripts and of functions.
NO_WRITES, ALLOW_OOM, ALLOW_STALE, NO_CLUSTER, ALLOW_CROSS_SLOT = 1, 2, 4, 8, 16
EVAL_COMPAT_MODE = 1 << 31      # an EVAL script without a shebang
FLAG_NAMES = ((NO_WRITES, b'no-writes'), (ALLOW_OOM, b'allow-oom'),
              (ALLOW_STALE, b'allow-stale'), (NO_CLUSTER, b'no-cluster'),
              (ALLOW_CROSS_SLOT, b'allow-cross-slot-keys'))
FLAG_BY_NAME = {name: flag for flag, name in FLAG_NAMES}


class Rand48:
    """Redis's rand48 (rand.c) behind math.random/math.randomseed
    (redis_math_random): one generator for the whole process, never
    reseeded except by math.randomseed, so a fresh server's sequence is
    Redis's."""
    state = 0x1234ABCD330E

    @classmethod
    def next(cls):
        cls.state = x = (0x5DEECE66D * cls.state + 0xB) & 0xFFFFFFFFFFFF
        return ((x >> 17) % 2147483647) / 2147483647

    @classmethod
    def random(cls, *args):
        r = cls.next()
        n = len(args)
        if n == 0:
            return r
        if n == 1:
            u = _checkint(args[0], 1, 'random')
            if u < 1:
                raise _argerror(1, 'random', b'interval is empty')
            return math.floor(r * u) + 1
        if n == 2:
            lo = _checkint(args[0], 1, 'random')
            u = _checkint(args[1], 2, 'random')
            if lo > u:
                raise _argerror(2, 'random', b'interval is empty')
            return math.floor(r * (u - lo + 1)) + lo
        raise ScriptRaise(b'wrong number of arguments', where=True)

    @classmethod
    def seed(cls, *args):
        v = _checkint(args[0] if args else None, 1, 'randomseed') & 0xFFFFFFFF
        cls.state = ((v >> 16) << 32) | ((v & 0xFFFF) << 16) | 0x330E


def _argerror(n, fname, extra):
    return ScriptRaise(b"bad argument #%d to '%s' (%s)" % (n, fname.encode(), extra),
                       where=True)


def _checkint(v, n, fname):
    """luaL_checkint: a number or a numeric string, truncated to a C int."""
    t = type(v)
    if t is bytes:
        try:
            v = float(v)
        except ValueError:
            raise _argerror(n, fname, b'number expected, got string')
    elif t is not int and t is not float or t is bool:
        raise _argerror(n, fname, b'number expected, got %s' % _lua_typename(v))
    v = int(v)
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _lua_typename(v):
    if v is None:
        return b'no value'
    if type(v) is bool:
        return b'boolean'
    return lupa.lua_type(v).encode() if lupa.lua_type(v) else b'userdata'


# The C extension's file, which Lua states load redis.call from, when the
# extension found the Lua C API in lupa's module (bind_lua).
FAST_LIB = (_scripting.__file__ if _scripting is not None and _scripting.bind_lua(lupa.__file__)
            else None)


def _no_attributes(obj, name, is_setting):
    raise AttributeError('access denied')


def sha1hex(body):
    return hashlib.sha1(body).hexdigest().encode()


class RunContext:
    """scriptRunCtx: one script invocation: who runs what (caller,
    funcname, read_only, eval_mode, argv, start, guarded: read-only, stale,
    out of memory at the start, a restricted user or cluster mode, which
    make every call take the full checks), and what the run changes as it
    goes, from what most runs leave as it is (nothing written, REPL_ALL,
    not killed...). Slots: the C extension (_scripting.c) makes and reads
    them at their offsets."""
    __slots__ = ('caller', 'funcname', 'read_only', 'eval_mode', 'argv', 'start', 'guarded',
                 'write_dirty', 'repl', 'killed', 'timedout', 'stale', 'allow_oom',
                 'script_oom', 'cluster', 'allow_cross_slot')

    def __init__(self, caller, funcname, read_only, eval_mode, argv, start, guarded):
        self.caller = caller
        self.funcname = funcname
        self.read_only = read_only
        self.eval_mode = eval_mode
        self.argv = argv
        self.start = start
        self.guarded = guarded
        self.write_dirty = False
        self.repl = 3
        self.killed = False
        self.timedout = False
        self.stale = False
        self.allow_oom = False
        self.script_oom = False
        self.cluster = False        # cluster mode: each call checked (routing.script_check)
        self.allow_cross_slot = False


class LuaState:
    """One Lua state with Redis's sandbox and API; ``host`` (the
    ScriptHost) runs the commands and the interrupts."""

    def __init__(self, host):
        self.host = host
        rt = self.rt = lupa.LuaRuntime(encoding=None, register_eval=False,
                                       register_builtins=False, unpack_returned_tuples=True,
                                       attribute_filter=_no_attributes)
        loader = rt.eval('loadstring')
        boot = loader(BOOTSTRAP.encode(), INTERNAL)
        if isinstance(boot, tuple):
            raise RuntimeError(boot[1])
        version = host.version
        api = rt.table_from({b'sha1hex': lua_sha1hex, b'log': host.lua_log,
                             b'setresp': host.lua_setresp, b'set_repl': host.lua_set_repl,
                             b'acl': host.lua_acl_check})
        # With the C extension in front of lua_call (host.redis_call is its
        # Caller), redis.call is a C function of the extension, loaded into
        # the state as Lua loads C libraries, and runs go to Lua through the
        # C API (fast.open gives the extension what it needs of the state):
        # no lupa crossing for the common call and run (_scripting.c).
        caller = host.redis_call
        fast = None
        if FAST_LIB is not None and isinstance(caller, _scripting.Caller):
            opener = rt.eval('package.loadlib')(FAST_LIB.encode(), b'pyredis_lua_open')
            if not isinstance(opener, tuple):
                fast = rt.table_from({b'open': opener, b'general': caller.general,
                                      b'convert': caller.convert, b'reraise': caller.reraise})
        args = (caller, host.lua_pcall, lambda exc: host.lua_error(exc, self),
                host.interrupt, api,
                Rand48.random, Rand48.seed, libs.setup(rt), version,
                _version_num(version), host.lua_register_function, host.script_resp, fast,
                *[n.encode() for n in ALLOWED_GLOBALS])
        # binding: what the C run needs of this state (None without it).
        if fast is not None:
            results, self.binding = caller.open_lua(boot, args)
        else:
            results, self.binding = boot(*args), None
        (self.run, self._compile, self.call_function, self.toresp, self._load_library,
         self.protect, self.G, self.ENV, self.reset_hook, self.keep, self.finish_boxed) = results
        self.table_from = rt.table_from

    def compile(self, body, name=None):
        """Compile a chunk in the sandbox: (function, None) or (None, error)."""
        res = self._compile(body, name) if name is not None else self._compile(body)
        if isinstance(res, tuple):
            return None, res[1]
        return res, None

    def load_library(self, code):
        """Run a library's code with the library API: None, or the error
        message FUNCTION LOAD replies with."""
        res = self._load_library(code)
        if not isinstance(res, tuple) or res[0] is not None:
            return None
        _, stage, err = res
        if stage == b'compile':
            return b'Error compiling function: ' + err
        msg = err[b'err'] if lupa.lua_type(err) == 'table' else None
        if not isinstance(msg, bytes):
            msg = b'(null)'
        return b'Error registering functions: ' + msg

    def memory(self):
        return self.rt.eval('collectgarbage("count")') * 1024


def lua_tostring(v):
    """lua_tolstring: strings and numbers (as %.14g), else None."""
    t = type(v)
    if t is bytes:
        return v
    if t is int or t is float:
        return b'%.14g' % v
    return None


def lua_tonumber(v):
    """lua_tonumber: numbers, numeric strings, else 0."""
    t = type(v)
    if t is int or t is float:
        return v
    if t is bytes:
        try:
            return float(v.strip()) if not v.strip().lower().startswith(b'0x') \
                else int(v.strip(), 16)
        except ValueError:
            return 0
    return 0


def lua_sha1hex(*args):
    if len(args) != 1:
        raise ScriptRaise(b'ERR wrong number of arguments')
    s = lua_tostring(args[0])
    return sha1hex(s if s is not None else b'')


def _version_num(v):
    major, minor, patch = (int(x) for x in v.split(b'.'))
    return (major << 16) | (minor << 8) | patch


# -- Redis replies -> Lua values (redisProtocolToLuaType) ---------------------------

def reply_to_lua(state, reply):
    """Convert a command's whole reply (bytes) to a Lua value. Returns
    (True, value) or, for an error reply, (False, message)."""
    first = reply[0]
    if first == 36:     # '$'
        if reply[1] == 45:
            return True, False
        start = reply.index(b'\n') + 1
        return True, reply[start:-2]
    if first == 58:     # ':'
        return True, int(reply[1:-2])
    if first == 45:     # '-'
        return False, _error_message(reply[:-2])
    value, _ = _parse(state, reply, 0)
    return True, value


def _error_message(s):
    """luaPushErrorBuff on a '-CODE msg' reply."""
    sp = s.find(b' ')
    if sp < 0:
        code, msg = b'ERR', s[1:]
    else:
        code, msg = s[1:sp], s[sp + 1:]
    return code + b' ' + msg.strip(b'\r\n')


def _parse(state, buf, pos):
    t = buf[pos]
    end = buf.index(b'\r\n', pos)
    line = buf[pos + 1:end]
    pos = end + 2
    if t == 36:     # '$'
        n = int(line)
        if n < 0:
            return False, pos
        return buf[pos:pos + n], pos + n + 2
    if t == 58:     # ':'
        return int(line), pos
    if t == 43:     # '+'
        return state.table_from({b'ok': line}), pos
    if t == 45:     # '-'
        tbl = state.table_from({b'err': _error_message(b'-' + line)})
        tbl[b'ignore_error_stats_update'] = True
        return tbl, pos
    if t == 42 or t == 62:     # '*', '>'
        n = int(line)
        if n < 0:
            return False, pos
        items = []
        for _ in range(n):
            v, pos = _parse(state, buf, pos)
            items.append(v)
        return state.table_from(items), pos
    if t == 37:     # '%'
        d = {}
        for _ in range(int(line)):
            k, pos = _parse(state, buf, pos)
            v, pos = _parse(state, buf, pos)
            d[k] = v
        return state.table_from({b'map': state.table_from(d)}), pos
    if t == 126:    # '~'
        d = {}
        for _ in range(int(line)):
            k, pos = _parse(state, buf, pos)
            d[k] = True
        return state.table_from({b'set': state.table_from(d)}), pos
    if t == 95:     # '_'
        return None, pos
    if t == 35:     # '#'
        return line == b't', pos
    if t == 44:     # ','
        return state.table_from({b'double': _parse_double(line)}), pos
    if t == 40:     # '('
        return state.table_from({b'big_number': line}), pos
    if t == 61:     # '='
        n = int(line)
        data = buf[pos:pos + n]
        return state.table_from({b'verbatim_string': state.table_from(
            {b'format': data[:3], b'string': data[4:]})}), pos + n + 2
    if t == 124:    # '|': attributes are not shown to scripts
        for _ in range(int(line) * 2):
            _, pos = _parse(state, buf, pos)
        return _parse(state, buf, pos)
    raise ValueError('unexpected reply type %r' % chr(t))


def _parse_double(s):
    if s == b'inf':
        return float('inf')
    if s == b'-inf':
        return float('-inf')
    return float(s)


def script_error_reply(err, funcname):
    """luaCallFunction's reply for a failed run: the error table's message,
    and where the error was raised. Returns (reply, ignore_stats)."""
    msg = err[b'err'] if lupa.lua_type(err) == 'table' else None
    if isinstance(msg, (int, float)) and not isinstance(msg, bool):
        msg = (b'%.14g' % msg)
    if not isinstance(msg, bytes):
        msg = b'(null)'
    msg = b'-' + msg.split(b'\0', 1)[0]
    source = line = None
    if lupa.lua_type(err) == 'table':
        source, line = err[b'source'], err[b'line']
    if line is not None and source is not None:
        if isinstance(line, float):
            line = int(line)
        msg += b' script: %s, on %s:%d.' % (funcname, source, line)
    msg = msg.strip(b'\r\n').replace(b'\r', b' ').replace(b'\n', b' ')
    ignore = lupa.lua_type(err) == 'table' and bool(err[b'ignore_error_stats_update'])
    return msg + b'\r\n', ignore


def log_level(level):
    return (log.debug, log.verbose, log.notice, log.warning)[level]


def lookup_for_script(argv):
    """lookupCommand(argv, argc): a container's subcommand when there are
    two arguments or more (None when it is unknown)."""
    cmd = DISPATCH.get(argv[0])
    if cmd is None:
        cmd = DISPATCH.get(argv[0].lower())
        if cmd is None:
            return None
    if cmd.subcommands is not None:
        if len(argv) >= 2:
            sub = cmd.subcommands.get(argv[1].lower())
            return sub if sub is not None and sub.proc is not None else None
        return cmd
    return cmd if cmd.proc is not None else None
