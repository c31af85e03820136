-- LuaBitOp 1.0.2's `bit` library as Redis embeds it, written in Lua so that its work runs
-- under the script's instruction hook (node/engine/lua_prelude.lua loads it the first time
-- a script names `bit`). Lua 5.1 has no integer type: every operand is converted as
-- LuaBitOp converts it (the low 32 bits of the double n + 2^52 + 2^51, which rounds a
-- fraction to even and wraps modulo 2^32), the operation works on the unsigned value, and
-- the result is the signed 32-bit number.

local kit = ...
local type, select, tonumber, error, format = type, select, tonumber, error, string.format
local floor, frexp, huge = math.floor, math.frexp, math.huge
local byte_char = string.char

local PUBLIC = {} -- the library's functions, for kit.library_error
local TWO32, TWO31 = 4294967296, 2147483648
local ROUNDING = 6755399441055744.0 -- 2^52 + 2^51
local MANTISSA = 9007199254740992 -- 2^53

local AND = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
  0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3,
  0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4, 0, 1, 0, 1, 4, 5, 4, 5, 0, 1, 0, 1, 4, 5, 4, 5,
  0, 0, 2, 2, 4, 4, 6, 6, 0, 0, 2, 2, 4, 4, 6, 6, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7,
  0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8, 8, 8, 0, 1, 0, 1, 0, 1, 0, 1, 8, 9, 8, 9, 8, 9, 8, 9,
  0, 0, 2, 2, 0, 0, 2, 2, 8, 8, 10, 10, 8, 8, 10, 10, 0, 1, 2, 3, 0, 1, 2, 3, 8, 9, 10, 11, 8, 9, 10, 11,
  0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13,
  0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
}
local OR = {
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15,
  2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 3, 3, 3, 3, 7, 7, 7, 7, 11, 11, 11, 11, 15, 15, 15, 15,
  4, 5, 6, 7, 4, 5, 6, 7, 12, 13, 14, 15, 12, 13, 14, 15, 5, 5, 7, 7, 5, 5, 7, 7, 13, 13, 15, 15, 13, 13, 15, 15,
  6, 7, 6, 7, 6, 7, 6, 7, 14, 15, 14, 15, 14, 15, 14, 15, 7, 7, 7, 7, 7, 7, 7, 7, 15, 15, 15, 15, 15, 15, 15, 15,
  8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15, 9, 9, 11, 11, 13, 13, 15, 15, 9, 9, 11, 11, 13, 13, 15, 15,
  10, 11, 10, 11, 14, 15, 14, 15, 10, 11, 10, 11, 14, 15, 14, 15, 11, 11, 11, 11, 15, 15, 15, 15, 11, 11, 11, 11, 15, 15, 15, 15,
  12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 13, 13, 15, 15, 13, 13, 15, 15, 13, 13, 15, 15, 13, 13, 15, 15,
  14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
}
local XOR = {
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,
  2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
  4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 5, 4, 7, 6, 1, 0, 3, 2, 13, 12, 15, 14, 9, 8, 11, 10,
  6, 7, 4, 5, 2, 3, 0, 1, 14, 15, 12, 13, 10, 11, 8, 9, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8,
  8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0, 3, 2, 5, 4, 7, 6,
  10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4,
  12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
  14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
}

-- The low 32 bits of the mantissa of n + 2^52 + 2^51, as LuaBitOp reads them.
local function low_bits(n)
  if n % 1 == 0 and n > -2251799813685248 and n < 2251799813685248 then
    return n % TWO32 -- an integer below 2^51: the same bits, without frexp
  end
  local r = n + ROUNDING
  if r ~= r or r == huge or r == -huge then return 0 end
  local m = frexp(r)
  if m < 0 then m = -m end
  return (m * MANTISSA) % TWO32
end

local type_name = kit.type_name

-- barg: a number, or a string Lua converts to one.
local function argument(name, count, position, value)
  local n = value
  if type(n) ~= "number" then n = tonumber(n) end
  if n ~= nil and n >= 0 and n < TWO32 and n % 1 == 0 then return n end
  if n == nil then
    kit.library_error(PUBLIC, "number expected, got " .. type_name(count, position, value),
      position)
  end
  return low_bits(n)
end

local function signed(b)
  if b >= TWO31 then return b - TWO32 end
  return b
end

local function combine(table_, a, b)
  local result, scale = 0, 1
  for _ = 1, 8 do
    local x, y = a % 16, b % 16
    result = result + table_[x * 16 + y + 1] * scale
    a, b, scale = (a - x) / 16, (b - y) / 16, scale * 16
  end
  return result
end

local bit = {}

function bit.tobit(...)
  local b = argument("tobit", select("#", ...), 1, (...))
  return signed(b)
end

function bit.bnot(...)
  local b = argument("bnot", select("#", ...), 1, (...))
  return signed(TWO32 - 1 - b)
end

local function folding(name, table_)
  bit[name] = function(...)
    local count = select("#", ...)
    local first, second = ...
    local b = argument(name, count, 1, first)
    if count == 2 then -- the usual case, without select
      b = combine(table_, b, argument(name, count, 2, second))
    else
      for position = count, 2, -1 do
        b = combine(table_, b, argument(name, count, position, (select(position, ...))))
      end
    end
    if b >= TWO31 then return b - TWO32 end
    return b
  end
end
folding("band", AND)
folding("bor", OR)
folding("bxor", XOR)

local POWERS = {}
for n = 0, 32 do POWERS[n] = 2 ^ n end

local function shift(name, operation)
  bit[name] = function(...)
    local count = select("#", ...)
    local a, b = ...
    local value = argument(name, count, 1, a)
    local n = argument(name, count, 2, b) % 32
    return signed(operation(value, n))
  end
end
shift("lshift", function(b, n) return (b * POWERS[n]) % TWO32 end)
shift("rshift", function(b, n) return floor(b / POWERS[n]) end)
shift("arshift", function(b, n) return floor(signed(b) / POWERS[n]) % TWO32 end)
shift("rol", function(b, n) return (b * POWERS[n]) % TWO32 + floor(b / POWERS[32 - n]) end)
shift("ror", function(b, n) return (b * POWERS[32 - n]) % TWO32 + floor(b / POWERS[n]) end)

function bit.bswap(...)
  local b = argument("bswap", select("#", ...), 1, (...))
  local b0 = b % 256
  local b1 = floor(b / 256) % 256
  local b2 = floor(b / 65536) % 256
  local b3 = floor(b / 16777216)
  return signed(((b0 * 256 + b1) * 256 + b2) * 256 + b3)
end

local LOWER, UPPER = "0123456789abcdef", "0123456789ABCDEF"

function bit.tohex(...)
  local count = select("#", ...)
  local a, b = ...
  local value = argument("tohex", count, 1, a)
  local n = 8
  if count >= 2 then n = signed(argument("tohex", count, 2, b)) end
  local digits = LOWER
  if n < 0 then n, digits = -n, UPPER end
  if n > 8 then n = 8 end
  local out = {}
  for index = n, 1, -1 do
    local digit = value % 16
    out[index] = digits:sub(digit + 1, digit + 1)
    value = (value - digit) / 16
  end
  return table.concat(out, "", 1, n)
end

for _, fn in next, bit do PUBLIC[fn] = true end
return bit
