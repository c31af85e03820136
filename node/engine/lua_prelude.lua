-- The sandbox every script runs in (node/engine/scripting.py loads this once per runtime).
--
-- A script runs on every replica of its shard, and a replica restored from a snapshot
-- starts a fresh runtime: nothing a script does may outlive its run or depend on the
-- runtime's history. So each run gets fresh globals and fresh read-only views of the
-- libraries, and what would differ between replicas (addresses, memory counters,
-- coroutines that escape the instruction budget) is left out.

-- dispatch(...) -> reply, failed (redis.pcall); redis_call(...) -> reply or raises (a
-- Python function, so that `return redis.call(...)` keeps the script's frame for the error's
-- line); unwrap(error) -> the {err=...} table a failed redis.call raised; hook_every: the
-- instructions between two budget checks.
local dispatch, redis_call, unwrap, sha1hex, random_draw, random_seed, hook_every = ...

local error, type, select, unpack, tostring, setmetatable, pairs =
  error, type, select, unpack, tostring, setmetatable, pairs
local raw_pcall, raw_xpcall, raw_loadstring, setfenv = pcall, xpcall, loadstring, setfenv
local collect = collectgarbage
local getinfo, sethook = debug.getinfo, debug.sethook
local string_lib, table_lib, math_lib = string, table, math

-- Strings keep their methods ("x"):upper(), but a script cannot reach their metatable.
getmetatable("").__metatable = false

-- ------------------------------------------------------------------ instruction budget

local hooks_left = 0
local exhausted = nil -- the error table once the budget is spent

local function count_hook()
  hooks_left = hooks_left - 1
  if hooks_left < 0 then
    exhausted = exhausted or { err = "ERR script exceeded its instruction budget" }
    error(exhausted, 0)
  end
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- pcall and xpcall must not swallow the budget's error: a loop of pcalls would run forever.
-- They also see a failed redis.call's error as Redis raises it: an {err=...} table.
local function guarded_pcall(...)
  local results = pack(raw_pcall(...))
  if exhausted then error(exhausted, 0) end
  if not results[1] then results[2] = unwrap(results[2]) end
  return unpack(results, 1, results.n)
end

local function guarded_xpcall(fn, handler, ...)
  local results = pack(raw_xpcall(fn, function(problem) return handler(unwrap(problem)) end, ...))
  if exhausted then error(exhausted, 0) end
  return unpack(results, 1, results.n)
end

-- ------------------------------------------------------------------ the redis library

local redis = {}

redis.call = redis_call

function redis.pcall(...)
  local reply = dispatch(...)
  return reply
end

function redis.error_reply(message)
  if type(message) ~= "string" then
    error("wrong number or type of arguments", 2)
  end
  if message:sub(1, 1) == "-" then message = message:sub(2) end
  return { err = message }
end

function redis.status_reply(message)
  if type(message) ~= "string" then
    error("wrong number or type of arguments", 2)
  end
  return { ok = message }
end

function redis.sha1hex(text)
  if type(text) ~= "string" and type(text) ~= "number" then
    error("wrong number or type of arguments", 2)
  end
  return sha1hex(tostring(text))
end

function redis.log() end -- replicas have no shared log to write to
function redis.setresp(version)
  if version ~= 2 then error("RESP version must be 2 (slotraft scripts speak RESP2)", 2) end
end
function redis.set_repl() end -- a script's effects are replicated with it, always
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL =
  0, 1, 2, 2, 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 0x07000f

-- math.random draws from the run's own generator, reset before each run (as Redis does).
local math_overrides = {
  random = function(...)
    local count = select("#", ...)
    local r = random_draw()
    if count == 0 then return r end
    local low, high = 1, ...
    if count == 2 then low, high = ... end
    if count > 2 then error("wrong number of arguments", 2) end
    if low > high then error("bad argument #" .. count .. " to 'random' (interval is empty)", 2) end
    return math_lib.floor(r * (high - low + 1)) + low
  end,
  randomseed = function(seed) random_seed(seed) end,
}

-- ------------------------------------------------------------------ globals

local function readonly_error()
  error("Attempt to modify a readonly table", 2)
end

local function view(library, overrides)
  local lookup = library
  if overrides then
    lookup = function(_, key)
      local value = overrides[key]
      if value == nil then value = library[key] end
      return value
    end
  end
  return setmetatable({}, { __index = lookup, __newindex = readonly_error, __metatable = false })
end

-- tostring of a table or function shows an address, which differs between replicas.
local function stable_tostring(value)
  local kind = type(value)
  if kind == "table" or kind == "function" or kind == "userdata" or kind == "thread" then
    return kind
  end
  return tostring(value)
end

local BASE = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  tonumber = tonumber, tostring = stable_tostring, type = type, unpack = unpack,
  getmetatable = getmetatable, setmetatable = setmetatable,
  pcall = guarded_pcall, xpcall = guarded_xpcall, _VERSION = _VERSION,
}

local current_env = nil

BASE.loadstring = function(text, name)
  local fn, problem = raw_loadstring(text, name)
  if fn then setfenv(fn, current_env) end
  return fn, problem
end

local function new_env(keys, argv)
  local globals = {
    string = view(string_lib), table = view(table_lib),
    math = view(math_lib, math_overrides), redis = view(redis),
  }
  local env = { KEYS = keys, ARGV = argv }
  setmetatable(env, {
    __index = function(_, name)
      local value = BASE[name]
      if value == nil then value = globals[name] end
      if value == nil then
        error("Script attempted to access nonexistent global variable '"
          .. stable_tostring(name) .. "'", 2)
      end
      return value
    end,
    __newindex = readonly_error,
    __metatable = false,
  })
  rawset(env, "_G", env)
  return env
end

-- ------------------------------------------------------------------ running

-- The line of the script where an error was raised: the innermost user_script frame.
local function locate(problem)
  for level = 2, 64 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.source == "@user_script" then
      return { unwrap(problem), info.currentline }
    end
  end
  return { unwrap(problem), -1 }
end

local function compile(body)
  return raw_loadstring(body, "@user_script")
end

local function run(fn, keys, argv, budget_hooks)
  local env = new_env(keys, argv)
  current_env = env
  setfenv(fn, env)
  exhausted = nil
  hooks_left = budget_hooks
  sethook(count_hook, "", hook_every)
  local ok, result = raw_xpcall(fn, locate)
  sethook()
  current_env = nil
  if exhausted then return false, { exhausted, -1 } end
  return ok, result
end

-- A full collection after a run that left much garbage: the memory limit only holds while
-- a script runs, and Lua 5.1 has no emergency collection when it is reached.
local function sweep()
  raw_pcall(collect, "collect")
end

-- Nothing else of the runtime's own libraries stays reachable by name.
for name in pairs({ os = 1, io = 1, debug = 1, package = 1, require = 1, module = 1,
  dofile = 1, loadfile = 1, load = 1, print = 1, python = 1, newproxy = 1, gcinfo = 1,
  collectgarbage = 1, coroutine = 1, getfenv = 1, setfenv = 1 }) do
  _G[name] = nil
end

return compile, run, sweep
