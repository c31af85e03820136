-- The sandbox every script runs in (node/engine/scripting.py loads it into a fresh runtime
-- for every run).
--
-- A script runs on every replica of its shard and again at every replay of the log, so
-- everything it can cause must be a function of the script, its arguments and the
-- replicated state, bounded in time and memory, and must end in a reply. Hence:
-- * a fresh runtime per run: memory use and garbage collection (weak tables) start from
--   the same state on every replica, and nothing a run does outlives it;
-- * every piece of Lua that a script can cause to run (its code, metamethods, error
--   handlers, the conversion of its result) runs under the instruction hook and the memory
--   limit, inside a protected call; the result leaves Lua as one flat string;
-- * library functions whose C work is not counted by the hook are charged by size;
-- * no addresses, no table-key order that depends on them, no bytecode.

-- Python functions (see scripting.py): dispatch(resp, ...) -> reply, failed, units (runs one
-- command; lifts the memory limit, which the caller puts back with limit_on); patch_chunk
-- (bytecode) -> bytecode without tail calls; sha1hex; log_line(level, text); command_allowed
-- (args...) -> whether the script's user may run them (nil: unknown); library_chunk(name)
-- -> the bytecode of a library (lua_<name>.lua). Each of those lifts the limit too.
local dispatch, limit_on, limit_off, patch_chunk, sha1hex, random_draw, random_seed,
  log_line, command_allowed, library_chunk,
  hook_every, bytes_per_unit, element_units, parse_units_per_byte, error_units,
  allocated_bytes_per_unit, memory_limit, reply_slots = ...

local error, type, select, unpack, tostring, tonumber, setmetatable, getmetatable =
  error, type, select, unpack, tostring, tonumber, setmetatable, getmetatable
local raw_next, rawget, rawset, rawequal, ipairs, assert = next, rawget, rawset, rawequal, ipairs, assert
local raw_pcall, raw_xpcall, raw_loadstring, setfenv = pcall, xpcall, loadstring, setfenv
local getinfo, sethook = debug.getinfo, debug.sethook
local new_userdata = newproxy
local string_lib, table_lib, math_lib = string, table, math
local format, byte, sub, rep, gsub, find, dump =
  string.format, string.byte, string.sub, string.rep, string.gsub, string.find, string.dump
local concat, sort, insert, remove = table.concat, table.sort, table.insert, table.remove
local floor, ceil, min, max = math.floor, math.ceil, math.min, math.max
local collect = collectgarbage

-- Strings keep their methods ("x"):upper(), but a script cannot reach their metatable; nor
-- the one of the Python functions above (a script's __gc there would run after the run).
local string_meta = getmetatable("")
string_meta.__metatable = false
getmetatable(dispatch).__metatable = false

local BUDGET = "ERR script exceeded its instruction budget"
local NO_MEMORY = "ERR not enough memory"
local STACK_LIMIT = "ERR reached lua stack limit"

-- ------------------------------------------------------------------ instruction budget

local units_left = 0
local exhausted = nil -- the error table once the budget is spent

local function spend(units)
  units_left = units_left - units
  if units_left < 0 then
    exhausted = exhausted or { err = BUDGET }
    error(exhausted, 0)
  end
end

-- Lua's collector is stopped while a script runs, so that what the script allocates is
-- what the heap grows by: it is charged, which bounds the VM's own work on big strings
-- (a concatenation copies them), and collected here every quarter of the memory limit.
local allocated_seen, since_collection = 0, 0
local COLLECT_EVERY = memory_limit / 4

-- The hook raises only while the script's part of a run is under way (`armed`): raised
-- anywhere else in `run`, its error would leave Lua as an exception.
local armed = false
local run -- defined below: the hook never raises in its own frame, outside any pcall

local function count_hook()
  if not armed then return end
  local heap = collect("count") * 1024
  local grown = heap - allocated_seen
  if grown > 0 then
    since_collection = since_collection + grown
    units_left = units_left - grown / allocated_bytes_per_unit
  end
  if since_collection > COLLECT_EVERY then
    collect("collect")
    collect("stop")
    heap = collect("count") * 1024
    units_left = units_left - heap / allocated_bytes_per_unit -- what the collector went through
    since_collection = 0
  end
  allocated_seen = heap
  if units_left < hook_every and getinfo(2, "f").func == run then return end
  spend(hook_every)
end

local function spend_bytes(size)
  spend(min(size, memory_limit) / bytes_per_unit)
end

local function pack(...)
  return { n = select("#", ...), ... }
end

-- ------------------------------------------------------------------ helpers

-- cjson.null: Redis's is a light userdata holding NULL; this stands for it.
local json_null = new_userdata(false)

-- tostring of a table or function shows an address, which differs between replicas.
local function stable_tostring(value)
  local kind = type(value)
  if kind == "table" or kind == "function" or kind == "userdata" or kind == "thread" then
    if rawequal(value, json_null) then return "userdata: (nil)" end
    return kind
  end
  return tostring(value)
end

local function argument_error(position, name, expected, value, given)
  local got = given and type(value) or "no value"
  error(format("bad argument #%d to '%s' (%s expected, got %s)", position, name, expected, got), 3)
end

-- Redis's error handler: the error as an {err=...} table, located in the script.
local function handler(problem)
  if exhausted then return exhausted end -- see guarded_xpcall
  local level = 2
  local info = getinfo(level, "Sl")
  while info and (info.what == "C" or info.what == "tail" or info.source == "=prelude") do
    level = level + 1
    info = getinfo(level, "Sl")
  end
  if type(problem) ~= "table" then
    problem = { err = "ERR " .. stable_tostring(problem) }
  end
  if info then
    problem.source = info.source
    problem.line = info.currentline
  end
  return problem
end

-- ------------------------------------------------------------------ deterministic order

-- The order of `next` depends on where keys sit in a table's hash part, and for tables,
-- functions and userdata as keys that is their address: it differs between replicas (and
-- after such a key has been in a table, so may the place of the others). Iteration goes
-- in sorted order instead: numbers, then strings, then booleans.
local KEY_RANK = { number = 1, string = 2, boolean = 3 }

local function key_before(a, b)
  local rank_a, rank_b = KEY_RANK[type(a)], KEY_RANK[type(b)]
  if rank_a ~= rank_b then return rank_a < rank_b end
  if rank_a == 3 then return (not a) and b end
  return a < b
end

local function sorted_keys(t)
  local keys, count = {}, 0
  local key = raw_next(t)
  while key ~= nil do
    if not KEY_RANK[type(key)] then
      error("Script attempted to iterate over a table with a " .. type(key)
        .. " key (the order of such keys differs between replicas)", 0)
    end
    count = count + 1
    keys[count] = key
    key = raw_next(t, key)
  end
  spend(count * 4) -- the C part of sorting is not counted by the hook
  sort(keys, key_before)
  return keys, count
end

-- The read-only library tables a script sees are empty proxies (see `view`): iterating one
-- goes over the library it stands for, as Redis's (read-only) tables iterate.
local view_contents = {} -- proxy -> { library, overrides }

local function view_listing(contents)
  local merged = {}
  for _, source in ipairs(contents) do
    local key = raw_next(source)
    while key ~= nil do
      merged[key] = true
      key = raw_next(source, key)
    end
  end
  return sorted_keys(merged)
end

-- (sorted keys, count, a reader of values) of t
local function listing(t)
  local contents = view_contents[t]
  if contents then
    local keys, count = view_listing(contents)
    return keys, count, function(_, key) return t[key] end
  end
  local keys, count = sorted_keys(t)
  return keys, count, rawget
end

local function ordered_pairs(...)
  local t = ...
  if type(t) ~= "table" then argument_error(1, "pairs", "table", t, select("#", ...) > 0) end
  local keys, count, read = listing(t)
  local index = 0
  local function step()
    while index < count do
      index = index + 1
      local key = keys[index]
      local value = read(t, key)
      if value ~= nil then return key, value end
    end
    return nil
  end
  return step, t, nil
end

local function ordered_next(...)
  local t, key = ...
  if type(t) ~= "table" then argument_error(1, "next", "table", t, select("#", ...) > 0) end
  local viewed = view_contents[t] ~= nil
  if not viewed then
    if key == nil and raw_next(t) == nil then return nil end
    if key ~= nil and (not KEY_RANK[type(key)] or not raw_pcall(raw_next, t, key)) then
      error("invalid key to 'next'", 0)
    end
  end
  local keys, count, read = listing(t)
  local low, high = 1, count + 1 -- the first key after `key`
  if key ~= nil then
    while low < high do
      local middle = floor((low + high) / 2)
      if key_before(key, keys[middle]) then high = middle else low = middle + 1 end
    end
  end
  for index = low, count do
    local value = read(t, keys[index])
    if value ~= nil then return keys[index], value end
  end
  return nil
end

-- ------------------------------------------------------------------ compiling

-- Redis refuses bytecode (CVE-2015-4335): its parser reads the signature byte as a symbol.
local function refusal(chunkname)
  local _, problem = raw_loadstring("\1", chunkname)
  return (gsub(problem, "char%(1%)'$", "char(27)'"))
end

-- A tail call would drop the script's frame: `return redis.call(...)` would lose the line
-- that Redis reports for the error. Chunks are compiled, dumped, made to call where they
-- would tail-call (Python), and loaded from that bytecode: the one way bytecode gets in.
local function compile_chunk(text, chunkname)
  if byte(text, 1) == 27 then return nil, refusal(chunkname) end
  spend(#text * parse_units_per_byte)
  local fn, problem = raw_loadstring(text, chunkname)
  if not fn then return nil, problem end
  local chunk = patch_chunk(dump(fn))
  limit_on()
  return chunk
end

local current_env = nil

local function compile(text, chunkname)
  local chunk, problem = compile_chunk(text, chunkname)
  if not chunk then return nil, problem end
  local fn = assert(raw_loadstring(chunk, "=chunk"))
  setfenv(fn, current_env)
  return fn
end

local function sandbox_loadstring(...)
  local text, chunkname = ...
  local kind = type(text)
  if kind ~= "string" and kind ~= "number" then
    argument_error(1, "loadstring", "string", text, select("#", ...) > 0)
  end
  text = tostring(text)
  if chunkname ~= nil and type(chunkname) ~= "string" and type(chunkname) ~= "number" then
    argument_error(2, "loadstring", "string", chunkname, true)
  end
  return compile(text, chunkname and tostring(chunkname) or text)
end

local function sandbox_load(...)
  local reader, chunkname = ...
  if type(reader) ~= "function" then
    argument_error(1, "load", "function", reader, select("#", ...) > 0)
  end
  if chunkname ~= nil and type(chunkname) ~= "string" and type(chunkname) ~= "number" then
    argument_error(2, "load", "string", chunkname, true)
  end
  local pieces, count = {}, 0
  while true do
    local ok, piece = raw_xpcall(reader, handler)
    if exhausted then error(exhausted, 0) end
    if not ok then return nil, piece end
    local kind = type(piece)
    if piece == nil or piece == "" then break end
    if kind ~= "string" and kind ~= "number" then
      local info = getinfo(2, "Sl")
      local where = info.currentline > 0 and (info.short_src .. ":" .. info.currentline .. ": ") or ""
      return nil, handler(where .. "reader function must return a string")
    end
    count = count + 1
    pieces[count] = tostring(piece)
  end
  return compile(concat(pieces), chunkname and tostring(chunkname) or "=(load)")
end

-- ------------------------------------------------------------------ pcall, xpcall

-- pcall and xpcall must not swallow the budget's error: a loop of pcalls would run forever.
-- An error caught costs a C longjmp and the unwinding of the frames it crosses. As in
-- Redis 7, pcall gives an error table's message rather than the table (as Redis, it reads
-- `err` with a plain index: under the hook, a metamethod may run).
local function guarded_pcall(...)
  local results = pack(raw_pcall(...))
  if exhausted then error(exhausted, 0) end
  if not results[1] then
    spend(error_units)
    local problem = results[2]
    if type(problem) == "table" then
      local message = problem.err
      if type(message) == "string" or type(message) == "number" then results[2] = message end
    end
  end
  return unpack(results, 1, results.n)
end

-- An error raised from the instruction hook calls the handler with the hook disabled: the
-- script's handler must not run then (it could loop forever).
local function guarded_xpcall(fn, error_handler)
  local function guarded_handler(problem)
    if exhausted then return problem end
    return error_handler(problem)
  end
  local results = pack(raw_xpcall(fn, guarded_handler))
  if exhausted then error(exhausted, 0) end
  if not results[1] then spend(error_units) end
  return unpack(results, 1, results.n)
end

-- ------------------------------------------------------------------ the redis library

local NO_ARGS = "ERR Please specify at least one argument for this redis lib call"
local BAD_ARG = "ERR Lua redis lib command arguments must be strings or integers"

-- The RESP version the script's commands answer in (redis.setresp), 2 at each run's start.
local resp_version = 2

-- The arguments of a redis lib call as strings, or nil and the error table.
local function command_arguments(...)
  local count = select("#", ...)
  if count == 0 then return nil, { err = NO_ARGS } end
  local args = { ... }
  for index = 1, count do
    local kind = type(args[index])
    if kind == "number" then
      args[index] = format("%.17g", args[index]) -- as Redis 7.0 writes a number argument
    elseif kind ~= "string" then
      return nil, { err = BAD_ARG }
    end
  end
  return args, count
end

local function command(raise, ...)
  local args, count = command_arguments(...)
  local reply, failed
  if not args then
    reply, failed = count, true
  else
    local ok, units
    ok, reply, failed, units = raw_pcall(dispatch, resp_version, unpack(args, 1, count))
    limit_on()
    if not ok then error(reply, 0) end
    spend(units)
  end
  if failed and raise then error(reply, 0) end
  return reply
end

-- An error table as Redis's luaPushError makes it: "-CODE message" keeps its code, any
-- other text gets ERR; surrounding CR and LF are trimmed.
local function error_table(text)
  local code, message = "ERR", text
  if sub(text, 1, 1) == "-" then
    local space = find(text, " ", 1, true)
    if space then
      code, message = sub(text, 2, space - 1), sub(text, space + 1)
    else
      message = sub(text, 2)
    end
  end
  spend_bytes(#message)
  message = gsub(gsub(message, "^[\r\n]+", ""), "[\r\n]+$", "")
  return { err = code .. " " .. message }
end

local function raise_error(text)
  error(error_table(text), 0)
end

local redis = {}

function redis.call(...)
  return command(true, ...)
end

function redis.pcall(...)
  return command(false, ...)
end

-- Redis returns (does not raise) its complaint about the arguments of these two.
function redis.error_reply(...)
  local message = ...
  if select("#", ...) ~= 1 or type(message) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  if sub(message, 1, 1) ~= "-" then message = "-" .. message end
  return error_table(message)
end

function redis.status_reply(...)
  local message = ...
  if select("#", ...) ~= 1 or type(message) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  return { ok = message }
end

function redis.sha1hex(...)
  if select("#", ...) ~= 1 then raise_error("wrong number of arguments") end
  local text = ...
  if type(text) == "number" then text = tostring(text) end
  if type(text) ~= "string" then text = "" end -- lua_tolstring gives Redis no string
  spend_bytes(#text)
  local digest = sha1hex(text)
  limit_on()
  return digest
end

-- redis.log writes through the node's log (a bounded number of lines per run: it runs on
-- every replica, at every replay).
function redis.log(...)
  local count = select("#", ...)
  if count < 2 then raise_error("redis.log() requires two arguments or more.") end
  local level = tonumber((...))
  if not level then raise_error("First argument must be a number (log level).") end
  level = level - level % 1
  if level < 0 or level > 3 or level ~= level then raise_error("Invalid debug level.") end
  local parts, size = {}, 0
  for index = 2, count do
    local value = select(index, ...)
    if type(value) == "string" or type(value) == "number" then
      size = size + 1
      parts[size] = tostring(value)
    end
  end
  local text = concat(parts, " ", 1, size)
  spend_bytes(#text)
  spend(element_units)
  log_line(level, text)
  limit_on()
end

function redis.setresp(...)
  if select("#", ...) ~= 1 then raise_error("redis.setresp() requires one argument.") end
  local version = tonumber((...)) or 0
  version = version - version % 1
  if version ~= 2 and version ~= 3 then raise_error("RESP version must be 2 or 3.") end
  resp_version = version
end

-- A script's effects are replicated with it, always: the flags are checked and kept nowhere.
function redis.set_repl(...)
  if select("#", ...) ~= 1 then raise_error("redis.set_repl() requires two arguments.") end
  local flags = tonumber((...)) or 0
  flags = flags - flags % 1
  if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
    raise_error("Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
  end
end

-- Whether the user running the script may run the command (nil: no such command).
function redis.acl_check_cmd(...)
  local args, count = command_arguments(...)
  if not args then error(count, 0) end
  spend(element_units * count)
  local allowed = command_allowed(unpack(args, 1, count))
  limit_on()
  if allowed == nil then raise_error("Invalid command passed to redis.acl_check_cmd()") end
  return allowed
end

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL =
  0, 1, 2, 2, 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 0x07000f

-- What EVAL's scripts have beyond a function's.
local eval_redis = {
  replicate_commands = function() return true end,
  breakpoint = function() return false end, -- there is no debugger
  debug = function() end,
}
for name, value in raw_next, redis do eval_redis[name] = value end

-- math.random draws from the run's own generator, reset before each run (as Redis does).
local math_overrides = {
  random = function(...)
    local count = select("#", ...)
    local r = random_draw()
    if count == 0 then return r end
    local low, high = 1, ...
    if count == 2 then low, high = ... end
    if count > 2 then error("wrong number of arguments", 2) end
    for position = 1, count do
      local value = select(position, ...)
      if type(value) ~= "number" then argument_error(position, "random", "number", value, true) end
    end
    if low > high then error("bad argument #" .. count .. " to 'random' (interval is empty)", 2) end
    return floor(r * (high - low + 1)) + low
  end,
  randomseed = function(...)
    local seed = ...
    if type(seed) ~= "number" then
      argument_error(1, "randomseed", "number", seed, select("#", ...) > 0)
    end
    -- as C casts it (lua_Integer then int); what Python's int() cannot take, 0
    if seed ~= seed or seed >= 9223372036854775808 or seed <= -9223372036854775808 then
      seed = 0
    end
    random_seed(seed)
  end,
}

-- ------------------------------------------------------------------ charged library functions

-- The C code of these functions runs outside the hook: each is charged for the bytes or
-- elements it may touch before it runs. It runs under pcall, and its own errors are raised
-- again from the script's line, as Redis reports them (a C function called straight from
-- Lua code here would name this file's line): `relay` is tail-called by the wrapper, so
-- level 3 is the wrapper's caller. Errors from Lua code it called back pass unchanged.
local function relay(name, ok, ...)
  if ok then return ... end
  local problem = ...
  if type(problem) == "string" and not find(problem, "^[^\n]-:%d+: ") then
    if exhausted then error(exhausted, 0) end
    problem = gsub(problem, "^bad argument (#%d+) to '%?'", "bad argument %1 to '" .. name .. "'")
    error(problem, 3)
  end
  error(problem, 0)
end

local string_overrides = {}

local function charged_by_subject(name)
  local original = string_lib[name]
  string_overrides[name] = function(...)
    local subject = ...
    if type(subject) == "string" then spend_bytes(#subject) end
    return relay(name, raw_pcall(original, ...))
  end
end
for _, name in ipairs({ "byte", "len", "lower", "upper", "reverse", "sub" }) do
  charged_by_subject(name)
end

function string_overrides.rep(...)
  local text, times = ...
  if type(text) == "string" and type(times) == "number" then
    -- an empty string repeated 2^31 times is seconds of C loop producing nothing
    if times < 1 or #text == 0 then return "" end
    spend_bytes(#text * times)
  end
  return relay("rep", raw_pcall(rep, ...))
end

function string_overrides.format(...)
  local size = 0
  for index = 1, select("#", ...) do
    local value = select(index, ...)
    if type(value) == "string" then size = size + #value end
  end
  spend_bytes(size)
  return relay("format", raw_pcall(format, ...))
end

function string_overrides.char(...)
  spend(select("#", ...))
  return relay("char", raw_pcall(string_lib.char, ...))
end

function string_overrides.dump(...)
  spend_bytes(4096)
  return relay("dump", raw_pcall(dump, ...))
end

-- Lua's pattern matcher backtracks: its work at one starting point can grow as a power of
-- the subject's length, one factor per quantifier that more pattern follows (and per %b
-- or back-reference, which scan), and its recursion, one C frame per quantifier or
-- capture, can overflow the C stack (Lua 5.1 has no limit: past 200 such items a pattern
-- is refused here with Lua 5.2's message). A match is charged its worst case.
local MAX_PATTERN_DEPTH = 200
local PATTERN_SPECIALS = "[%^%$%*%+%-%?%(%)%[%]%%%.]"

-- Where the pattern item starting at `index` ends (lstrlib.c's classEnd).
local function class_end(pattern, index, size)
  local c = byte(pattern, index)
  index = index + 1
  if c == 37 then return index + 1 end -- %x
  if c == 91 then -- [set]
    if byte(pattern, index) == 94 then index = index + 1 end
    repeat
      if index > size then return size + 1 end -- malformed: the matcher will say so
      local d = byte(pattern, index)
      index = index + 1
      if d == 37 and index <= size then index = index + 1 end
    until byte(pattern, index) == 93
    return index + 1
  end
  return index
end

local function pattern_cost(subject_size, pattern)
  local size = #pattern
  local index, depth, factors, pending = 1, 0, 0, 0
  local starts = subject_size + 1
  if byte(pattern, 1) == 94 then -- ^
    index, starts = 2, 1
  end
  while index <= size do
    local c = byte(pattern, index)
    if c == 40 or c == 41 then -- ( )
      depth = depth + 1
      index = index + 1
    else
      local next_index = class_end(pattern, index, size)
      local class = c == 37 and byte(pattern, index + 1) or nil
      if class == 98 then -- %bxy
        next_index = index + 4
        factors, pending = factors + pending + 1, 0
      elseif class == 102 then -- %f[set]
        next_index = class_end(pattern, index + 2, size)
        factors, pending = factors + pending, 0
      elseif class and class >= 48 and class <= 57 then -- back-reference
        factors, pending = factors + pending + 1, 0
      else
        local quantifier = byte(pattern, next_index)
        if quantifier == 42 or quantifier == 43 or quantifier == 45 or quantifier == 63 then
          next_index = next_index + 1
          depth = depth + 1
          factors, pending = factors + pending, 1
        else
          factors, pending = factors + pending, 0
        end
      end
      index = next_index
    end
    if depth > MAX_PATTERN_DEPTH then error("pattern too complex", 3) end
  end
  local cost = starts * (size + 1)
  for _ = 1, factors do
    cost = cost * (subject_size + 1)
    if cost > memory_limit * 1024 then break end
  end
  return cost
end

local function matcher(name, original, plain_position)
  string_overrides[name] = function(...)
    local subject, pattern = ...
    if type(subject) == "number" then subject = tostring(subject) end
    if type(pattern) == "number" then pattern = tostring(pattern) end
    if type(subject) == "string" and type(pattern) == "string" then
      if plain_position and select(plain_position, ...) or not find(pattern, PATTERN_SPECIALS) then
        spend_bytes(#subject * max(#pattern, 1))
      else
        spend(pattern_cost(#subject, pattern) / 4)
      end
    end
    return relay(name, raw_pcall(original, ...))
  end
end
matcher("find", find, 4)
matcher("match", string_lib.match)
matcher("gmatch", string_lib.gmatch)
if string_lib.gfind then matcher("gfind", string_lib.gfind) end

function string_overrides.gsub(...)
  local subject, pattern, replacement = ...
  if type(subject) == "number" then subject = tostring(subject) end
  if type(pattern) == "number" then pattern = tostring(pattern) end
  if type(subject) == "string" and type(pattern) == "string" then
    spend(pattern_cost(#subject, pattern) / 4)
    if type(replacement) == "string" then spend_bytes(#subject * max(#replacement, 1)) end
  end
  return relay("gsub", raw_pcall(gsub, ...))
end

local table_overrides = {}

function table_overrides.concat(...)
  local t, separator, first, last = ...
  if type(t) == "table" then
    first = tonumber(first) or 1
    last = tonumber(last) or #t
    if last >= first then
      spend((last - first + 1) * element_units)
      local size = 0
      for index = first, last do
        local value = rawget(t, index)
        if type(value) == "string" then size = size + #value end
        if type(separator) == "string" then size = size + #separator end
      end
      spend_bytes(size)
    end
  end
  return relay("concat", raw_pcall(concat, ...))
end

local function charged_shift(name, original)
  table_overrides[name] = function(...)
    local t = ...
    if type(t) == "table" then spend(#t) end
    return relay(name, raw_pcall(original, ...))
  end
end
charged_shift("insert", insert)
charged_shift("remove", remove)

function table_overrides.sort(...)
  local t = ...
  if type(t) == "table" then
    local n = #t
    spend(n * (1 + floor(math_lib.log(n + 1) / math_lib.log(2))) * 2)
  end
  return relay("sort", raw_pcall(sort, ...))
end

function table_overrides.maxn(t)
  if type(t) ~= "table" then argument_error(1, "maxn", "table", t, true) end
  local largest = 0
  local key = raw_next(t)
  while key ~= nil do
    if type(key) == "number" and key > largest then largest = key end
    key = raw_next(t, key)
  end
  return largest
end

function table_overrides.foreach(t, fn)
  if type(t) ~= "table" then argument_error(1, "foreach", "table", t, true) end
  if type(fn) ~= "function" then argument_error(2, "foreach", "function", fn, fn ~= nil) end
  for key, value in ordered_pairs(t) do
    local result = fn(key, value)
    if result ~= nil then return result end
  end
end

local base_overrides = {}

function base_overrides.tonumber(...)
  local value = ...
  if type(value) == "string" then spend_bytes(#value) end
  return relay("tonumber", raw_pcall(tonumber, ...))
end

function base_overrides.unpack(...)
  local t, first, last = ...
  if type(t) == "table" then
    first = tonumber(first) or 1
    last = tonumber(last) or #t
    if last >= first and last - first < 8000 then spend(last - first + 1) end
  end
  return relay("unpack", raw_pcall(unpack, ...))
end

-- ------------------------------------------------------------------ globals

local function readonly_error()
  error("Attempt to modify a readonly table", 2)
end

local function nonexistent_global(name)
  error("Script attempted to access nonexistent global variable '"
    .. stable_tostring(name) .. "'", 3)
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
  local proxy = setmetatable({}, {
    __index = lookup, __newindex = readonly_error, __metatable = false,
  })
  view_contents[proxy] = { library, overrides }
  return proxy
end

-- Strings' methods ("x"):rep(...) go through the charged functions too.
string_meta.__index = view(string_lib, string_overrides)

local BASE = {
  assert = assert, error = error, ipairs = ipairs, next = ordered_next, pairs = ordered_pairs,
  rawequal = rawequal, rawget = rawget, rawset = rawset, select = select,
  tonumber = base_overrides.tonumber, tostring = stable_tostring, type = type,
  unpack = base_overrides.unpack, getmetatable = getmetatable, setmetatable = setmetatable,
  pcall = guarded_pcall, xpcall = guarded_xpcall, _VERSION = _VERSION,
  loadstring = sandbox_loadstring, load = sandbox_load,
}

-- The libraries Redis embeds, each in a file of its own (lua_<name>.lua), written in Lua so
-- that their work runs under the hook and the memory limit. A run loads one the first time
-- its script names it: most scripts use none, and loading costs.
local LIBRARY_NAMES = { bit = true, cjson = true, cmsgpack = true, struct = true }
local loaded_libraries = {}
-- The libraries' errors, raised as their C counterparts raise them (luaL_error and
-- luaL_argerror): at the line of the script that called the library function (the
-- nearest function of `public` up the stack), an argument error naming the function as
-- its caller named it ('?' through pcall).
local function library_error(public, message, argument)
  local level = 2
  while true do
    local info = getinfo(level, "f")
    if not info then error(message, 0) end
    if info.func and public[info.func] then break end
    level = level + 1
  end
  if argument then
    local name = getinfo(level, "n").name or "?"
    message = format("bad argument #%d to '%s' (%s)", argument, name, message)
  end
  error(message, level + 1)
end

-- Redis's C libraries name a missing argument "no value" where Lua's type() says nil.
local function argument_type_name(count, position, value)
  if position > count then return "no value" end
  return type(value)
end

-- For the recursive libraries (cjson, cmsgpack): their own errors are raised as a marker
-- table, deep in recursive code, and raised again from the public function's frame by
-- `finish` (as the C library's would be, at the script's line): walking a deep Lua stack
-- to find that frame at every level would cost its depth squared. Each library gets its
-- own marker and its own set of public functions.
local function library_guard()
  local public_functions = {}
  local failure = {}
  local guard = { public = public_functions }

  function guard.fail(message)
    failure.message, failure.argument = message, nil
    error(failure, 0)
  end

  function guard.argument_error(position, _, message)
    failure.message, failure.argument = message, position
    error(failure, 0)
  end

  local function finish(ok, ...)
    if ok then return ... end
    local problem = ...
    if problem == failure then
      library_error(public_functions, failure.message, failure.argument)
    end
    error(problem, 0) -- the budget's, memory's, or an error raised as from C
  end

  -- `values` keeps the public function's frame on the stack (no tail call), for
  -- library_error to find.
  local function values(...) return ... end

  function guard.guarded(fn)
    local public = function(...) return values(finish(raw_pcall(fn, ...))) end
    public_functions[public] = true
    return public
  end

  return guard
end

local library_kit = {
  library_error = library_error, library_guard = library_guard,
  type_name = argument_type_name,
  spend = spend, spend_bytes = spend_bytes, json_null = json_null,
  element_units = element_units, memory_limit = memory_limit,
}

local function library(name)
  local loaded = loaded_libraries[name]
  if loaded == nil then
    local chunk = library_chunk(name)
    limit_on()
    local opened = assert(raw_loadstring(chunk, "=prelude"))(library_kit, view)
    loaded = view(opened)
    loaded_libraries[name] = loaded
  end
  return loaded
end

local function global_library(name)
  if LIBRARY_NAMES[name] then return library(name) end
  return nil
end

local function new_env(keys, argv)
  local globals = {
    string = view(string_lib, string_overrides), table = view(table_lib, table_overrides),
    math = view(math_lib, math_overrides), redis = view(eval_redis),
  }
  local env = { KEYS = keys, ARGV = argv }
  setmetatable(env, {
    __index = function(_, name)
      local value = BASE[name]
      if value == nil then value = globals[name] end
      if value == nil then value = global_library(name) end
      if value == nil then nonexistent_global(name) end
      return value
    end,
    __newindex = readonly_error,
    __metatable = false,
  })
  rawset(env, "_G", env)
  return env
end

-- ------------------------------------------------------------------ function libraries

-- A library's code runs first with a `redis` of its own and no other global (Redis's
-- FUNCTION LOAD), registering its functions; then (FCALL) the function called runs with
-- the globals a function has. Both in the same environment, whose phase says which.
local loading = true
local registrations, registration_count = {}, 0

local FLAG_BITS = {
  ["no-writes"] = 1, ["allow-oom"] = 2, ["allow-stale"] = 4, ["no-cluster"] = 8,
  ["allow-cross-slot-keys"] = 16,
}
local BAD_NAME = "Library names can only contain letters, numbers, or underscores(_) and must "
  .. "be at least one character long"

local function string_value(value) -- Redis's lua_isstring and lua_tostring
  local kind = type(value)
  if kind == "number" then return tostring(value) end
  if kind == "string" then return value end
  return nil
end

local function read_flags(flags)
  local bits, index = 0, 1
  while true do
    local flag = flags[index] -- as Redis reads it: a metamethod may run (under the hook)
    if flag == nil then return bits end
    flag = string_value(flag)
    if flag then spend_bytes(#flag) end
    local bit = flag and FLAG_BITS[string_lib.lower(flag)]
    if not bit then raise_error("unknown flag given") end
    if bits % (bit * 2) < bit then bits = bits + bit end
    index = index + 1
  end
end

local NAMED = { function_name = true, description = true, callback = true, flags = true }

local function named_arguments(args)
  if type(args) ~= "table" then
    raise_error("calling redis.register_function with a single argument is only applicable "
      .. "to Lua table (representing named arguments).")
  end
  local keys, count = {}, 0
  local key = raw_next(args)
  while key ~= nil do
    if type(key) ~= "string" and type(key) ~= "number" then
      raise_error("named argument key given to redis.register_function is not a string")
    end
    count = count + 1
    keys[count] = key
    key = raw_next(args, key)
  end
  spend(count * 4)
  sort(keys, key_before) -- Redis goes in the table's own order, which differs by replica
  local name, description, callback, flags = nil, nil, nil, 0
  for index = 1, count do
    local value = rawget(args, keys[index])
    local field = tostring(keys[index])
    spend_bytes(#field)
    field = string_lib.lower(field)
    if not NAMED[field] then raise_error("unknown argument given to redis.register_function") end
    if field == "function_name" then
      name = string_value(value)
      if not name then
        raise_error("function_name argument given to redis.register_function must be a string")
      end
    elseif field == "description" then
      description = string_value(value)
      if not description then
        raise_error("description argument given to redis.register_function must be a string")
      end
    elseif field == "callback" then
      if type(value) ~= "function" then
        raise_error("callback argument given to redis.register_function must be a function")
      end
      callback = value
    else
      if type(value) ~= "table" then
        raise_error("flags argument to redis.register_function must be a table representing "
          .. "function flags")
      end
      flags = read_flags(value)
    end
  end
  if not name then raise_error("redis.register_function must get a function name argument") end
  if not callback then raise_error("redis.register_function must get a callback argument") end
  return name, description, callback, flags
end

local function register_function(...)
  if not loading then
    raise_error("redis.register_function can only be called on FUNCTION LOAD command")
  end
  local count = select("#", ...)
  if count < 1 or count > 2 then
    raise_error("wrong number of arguments to redis.register_function")
  end
  local name, description, callback, flags
  if count == 1 then
    name, description, callback, flags = named_arguments((...))
  else
    local first, second = ...
    name, flags = string_value(first), 0
    if not name then raise_error("first argument to redis.register_function must be a string") end
    if type(second) ~= "function" then
      raise_error("second argument to redis.register_function must be a function")
    end
    callback = second
  end
  spend_bytes(#name)
  if #name == 0 or find(name, "[^%w_]") then raise_error(BAD_NAME) end
  for index = 1, registration_count do
    if registrations[index][1] == name then
      raise_error("Function already exists in the library")
    end
  end
  spend(element_units)
  registration_count = registration_count + 1
  registrations[registration_count] = { name, description or false, flags, callback }
end

local load_api = {
  register_function = register_function, log = redis.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}
local load_redis = setmetatable({}, {
  __index = function(_, name)
    local value = load_api[name]
    if value == nil then nonexistent_global(name) end
    return value
  end,
  __newindex = readonly_error,
  __metatable = false,
})

local function new_function_env()
  local globals = {
    string = view(string_lib, string_overrides), table = view(table_lib, table_overrides),
    math = view(math_lib, math_overrides), redis = view(redis),
  }
  local env = {}
  setmetatable(env, {
    __index = function(_, name)
      if loading then
        if name == "redis" then return load_redis end
        nonexistent_global(name)
      end
      local value = BASE[name]
      if value == nil then value = globals[name] end
      if value == nil then value = global_library(name) end
      if value == nil and name == "_G" then value = env end
      if value == nil then nonexistent_global(name) end
      return value
    end,
    __newindex = readonly_error,
    __metatable = false,
  })
  return env
end

-- ------------------------------------------------------------------ the result

local MAX_SLOT = reply_slots -- Redis: 7996 (see REPLY_SLOTS in scripting.py)
local INT64_MIN = "-9223372036854775808"
local EXACT = 1e14 -- table.concat writes numbers with %.14g: exact below this

local out, size = nil, 0 -- the tokens of the reply being made

local function put_text(tag, text)
  out[size + 1] = tag
  out[size + 2] = #text
  out[size + 3] = ":"
  out[size + 4] = text
  size = size + 4
  units_left = units_left - #text / bytes_per_unit
end

-- (long long) of a double, as Redis casts it: out of range and NaN give INT64_MIN on x86.
local function put_integer(number)
  local fraction = number % 1
  if fraction ~= 0 and fraction == fraction then
    number = number - fraction
    if number < 0 then number = number + 1 end -- towards zero
  end
  out[size + 1] = ":"
  if number > -EXACT and number < EXACT then
    out[size + 2] = number
  elseif number ~= number or number >= 9223372036854775808 or number < -9223372036854775808 then
    out[size + 2] = INT64_MIN
  else
    out[size + 2] = format("%.0f", number)
  end
  out[size + 3] = ";"
  size = size + 3
end

local function one_line(text)
  if find(text, "[\r\n]") then
    spend_bytes(#text)
    return (gsub(text, "[\r\n]", " "))
  end
  return text
end

local flatten

local function flatten_keys(tag, t, slot, with_values)
  local keys, count = sorted_keys(t)
  out[size + 1] = tag
  out[size + 2] = count
  out[size + 3] = ";"
  size = size + 3
  for index = 1, count do
    local key = keys[index]
    if with_values then
      flatten(key, slot + 4)
      flatten(rawget(t, key), slot + 3)
    else
      flatten(key, slot + 3)
    end
  end
end

local function flatten_table(value, slot)
  local field = rawget(value, "err")
  if type(field) == "string" then return put_text("-", one_line(field)) end
  field = rawget(value, "ok")
  if type(field) == "string" then return put_text("+", one_line(field)) end
  field = rawget(value, "double")
  if type(field) == "number" then
    out[size + 1] = ","
    out[size + 2] = format("%.17g", field)
    out[size + 3] = ";"
    size = size + 3
    return
  end
  field = rawget(value, "big_number")
  if type(field) == "string" then return put_text("(", one_line(field)) end
  field = rawget(value, "verbatim_string")
  if type(field) == "table" then
    local text_format, text = rawget(field, "format"), rawget(field, "string")
    if type(text_format) == "string" and type(text) == "string" then
      return put_text("=", sub(text_format .. "   ", 1, 3) .. text)
    end
  end
  field = rawget(value, "map")
  if type(field) == "table" then return flatten_keys("%", field, slot, true) end
  field = rawget(value, "set")
  if type(field) == "table" then return flatten_keys("~", field, slot, false) end
  local header = size + 2
  out[size + 1] = "*"
  out[header] = 0
  out[size + 3] = ";"
  size = size + 3
  local count = 0
  local inner = slot + 1
  while true do
    local item = rawget(value, count + 1)
    if item == nil then break end
    count = count + 1
    -- the frequent flat cases inline: a reply may have millions of elements
    units_left = units_left - element_units
    if units_left < 0 then spend(0) end
    local kind = type(item)
    if inner > MAX_SLOT then
      put_text("-", STACK_LIMIT)
    elseif kind == "string" then
      put_text("$", item)
    elseif kind == "number" then
      put_integer(item)
    else
      units_left = units_left + element_units
      flatten(item, inner)
    end
  end
  out[header] = count
end

-- Redis reads a reply with raw access (no metamethod runs) and answers "reached lua stack
-- limit" for a value deeper than its C stack allows; `slot` counts the Lua stack slots
-- Redis's converter would hold at that value (2 at the top, 1 more per array level, 3 or
-- 4 more for a map's or set's entry), and Redis refuses past 7996 (we, earlier).
flatten = function(value, slot)
  spend(element_units)
  if slot > MAX_SLOT then return put_text("-", STACK_LIMIT) end
  local kind = type(value)
  if kind == "string" then
    put_text("$", value)
  elseif kind == "number" then
    put_integer(value)
  elseif kind == "boolean" then
    -- after redis.setresp(3), a boolean is a RESP3 boolean (an integer 0/1 in RESP2)
    if resp_version == 3 then
      out[size + 1] = value and "#1;" or "#0;"
    else
      out[size + 1] = value and ":1;" or "_"
    end
    size = size + 1
  elseif kind == "table" then
    flatten_table(value, slot)
  else
    out[size + 1] = "_"
    size = size + 1
  end
end

-- A reply leaves Lua as one string of tokens, read by Python without calling back:
--   $<len>:<bytes> bulk   +<len>:<text> status   -<len>:<text> error   (<len>:<digits> big
--   number   =<len>:<fmt><text> verbatim   :<integer>; integer   ,<%.17g>; double   _ null
--   #1; #0; boolean (RESP3)
--   *<n>; array   %<n>; map (n pairs)   ~<n>; set
local function reply_string(value)
  out, size = {}, 0
  flatten(value, 2)
  spend(size / 4) -- table.concat, and Python reading the tokens
  local text = concat(out, "", 1, size)
  out = nil
  return text
end

-- What Redis answers for a failed run: the error table's err (read as Redis reads it,
-- which may run an __index: here, under the hook and the limit), source and line.
local function describe(problem)
  if type(problem) ~= "table" then return "ERR " .. stable_tostring(problem) end
  local message, source, line = problem.err, problem.source, problem.line
  if type(message) == "number" then message = tostring(message) end
  if type(message) ~= "string" then message = "ERR unknown error" end
  if type(line) == "number" then line = tostring(line) end
  if type(source) ~= "string" or type(line) ~= "string" then source, line = nil, nil end
  return message, source, line
end

-- ------------------------------------------------------------------ running

-- FUNCTION LOAD's message for an error of a library's code, as Redis extracts it (no
-- handler runs there: an error table has no source or line).
local function load_message(problem)
  if type(problem) == "string" or type(problem) == "number" then
    return "ERR " .. tostring(problem)
  end
  if type(problem) == "table" then
    local message = problem.err
    if type(message) == "string" or type(message) == "number" then return tostring(message) end
  end
  return "ERR unknown error"
end

-- The registrations as reply tokens: per function its name, description (or null), flags.
local function registered()
  local list = {}
  for index = 1, registration_count do
    local entry = registrations[index]
    list[index] = { entry[1], entry[2], entry[3] }
  end
  return reply_string(list)
end

local run_arguments = nil

local function start_hook()
  collect("stop")
  allocated_seen, since_collection = collect("count") * 1024, 0
  armed = true
  sethook(count_hook, "", hook_every)
end

-- A library's code run for its registrations: true, or false and the load error.
local function load_library(chunk)
  local fn = assert(raw_loadstring(chunk, "=chunk"))
  local env = new_function_env()
  current_env = env
  setfenv(fn, env)
  start_hook()
  local ok, problem = raw_pcall(fn)
  loading = false
  if exhausted then return false, BUDGET end
  if not ok then return false, load_message(problem) end
  return true
end

local function finish(ok, result)
  if exhausted then return "error", BUDGET end
  if ok then return "ok", reply_string(result) end
  return "error", describe(result)
end

local function run_protected()
  local mode, chunk, keys, argv, function_name = unpack(run_arguments, 1, 5)
  limit_on()
  local status, message, source, line
  if mode == "eval" then
    local fn = assert(raw_loadstring(chunk, "=chunk"))
    local env = new_env(keys, argv)
    current_env = env
    setfenv(fn, env)
    start_hook()
    status, message, source, line = finish(raw_xpcall(fn, handler))
  else
    local loaded, problem = load_library(chunk)
    if not loaded then
      status, message = "error", problem
    elseif mode == "load" then
      status, message = "ok", registered()
    else
      local callback = nil
      for index = 1, registration_count do
        if registrations[index][1] == function_name then
          callback = registrations[index][4]
          break
        end
      end
      if callback then
        local function call() return callback(keys, argv) end
        status, message, source, line = finish(raw_xpcall(call, handler))
      else -- the library registers what it did at FUNCTION LOAD: never expected
        status, message = "error", "ERR Function not found"
      end
    end
  end
  armed = false
  return status, message, source, line
end

local function disarm(problem)
  armed = false
  return problem
end

-- One run: mode "eval" runs a chunk that `check` made; "load" runs a library's chunk for
-- the functions it registers; "function" runs it, then calls `function_name`. The outcome:
-- ("ok", reply tokens) or ("error", message[, source, line]), and the budget units left.
-- Nothing here raises: an error would reach Python as an exception.
run = function(mode, chunk, keys, argv, budget, parse_units, function_name)
  units_left = budget - parse_units
  exhausted = nil
  run_arguments = { mode, chunk, keys, argv, function_name }
  local ok, status, message, source, line = raw_xpcall(run_protected, disarm)
  armed = false
  sethook()
  limit_off()
  if exhausted then return "error", BUDGET end
  if not ok then
    if status == "not enough memory" then return "error", NO_MEMORY end
    return "error", type(status) == "string" and ("ERR " .. status) or "ERR unknown error"
  end
  return status, message, source, line
end

local function run_and_count(...)
  local status, message, source, line = run(...)
  return status, message, source, line, units_left
end

-- The compilation of a script (chunkname @user_script) or a library (@user_function):
-- ("ok", the chunk to run) or ("compile", error).
local function check(body, budget, chunkname)
  limit_on()
  units_left = budget
  exhausted = nil
  local ok, chunk, problem = raw_pcall(compile_chunk, body, chunkname)
  limit_off()
  if not ok then
    if exhausted then return "compile", "script exceeded its instruction budget" end
    return "compile", chunk == "not enough memory" and chunk or "unknown error"
  end
  if not chunk then return "compile", problem end
  return "ok", chunk
end

-- Nothing else of the runtime's own libraries stays reachable by name.
for name in raw_next, { os = 1, io = 1, debug = 1, package = 1, require = 1, module = 1,
  dofile = 1, loadfile = 1, load = 1, print = 1, python = 1, newproxy = 1, gcinfo = 1,
  collectgarbage = 1, coroutine = 1, getfenv = 1, setfenv = 1 } do
  _G[name] = nil
end

return run_and_count, check
