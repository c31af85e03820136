-- lua-cmsgpack 0.4.0 as Redis embeds it (lua_cmsgpack.c), written in Lua so that its work
-- runs under the script's instruction hook and memory limit (node/engine/lua_prelude.lua
-- loads it the first time a script names `cmsgpack`).
--
-- One deliberate difference: a map's entries are written in the order of their encoded
-- keys (then values), not in the order of the table's hash part, which may depend on
-- addresses and so differ between replicas.

local kit = ...
local spend, spend_bytes = kit.spend, kit.spend_bytes
local type, select, tonumber, tostring, error, rawget, next, pcall, unpack =
  type, select, tonumber, tostring, error, rawget, next, pcall, unpack
local byte, char, sub, format = string.byte, string.char, string.sub, string.format
local concat, sort = table.concat, table.sort
local floor, ceil, frexp, ldexp, huge = math.floor, math.ceil, math.frexp, math.ldexp, math.huge

local MAX_NESTING = 16
local MAX_STACK = 8000 -- Lua 5.1's LUAI_MAXCSTACK, which luaL_checkstack stops at
local TWO32 = 4294967296
local TOO_MANY = "stack overflow (too many return values at once; use unpack_one or "
  .. "unpack_limit instead.)"

local guard = kit.library_guard()
local fail, argument_error, guarded = guard.fail, guard.argument_error, guard.guarded
local type_name = kit.type_name

-- ------------------------------------------------------------------ numbers <-> bytes

-- big-endian bytes of a value below 2^(8*count)
local function big_endian(value, count)
  local out = {}
  for index = count, 1, -1 do
    local low = value % 256
    out[index] = low
    value = (value - low) / 256
  end
  return char(unpack(out, 1, count))
end

-- big-endian 64-bit two's complement of an integral n, -2^63 <= n < 2^64
local function big_endian64(n)
  local high = floor(n / TWO32)
  local low = n - high * TWO32
  if high < 0 then high = high + TWO32 end
  return big_endian(high, 4) .. big_endian(low, 4)
end

local function round_even(x)
  local f = floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

local function is_negative(x)
  if x ~= x then return sub(format("%f", x), 1, 1) == "-" end
  return x < 0 or (x == 0 and 1 / x < 0)
end

-- (sign, biased exponent, mantissa) of x as a float (bits 8, 23) or double (11, 52)
local function ieee_fields(x, exponent_bits, mantissa_bits)
  local bias = 2 ^ (exponent_bits - 1) - 1
  local top = 2 ^ exponent_bits - 1
  local sign = is_negative(x) and 1 or 0
  if x ~= x then return sign, top, 2 ^ (mantissa_bits - 1) end
  if x < 0 then x = -x end
  if x == huge then return sign, top, 0 end
  if x == 0 then return sign, 0, 0 end
  local m, e = frexp(x)
  local exponent = e - 1 + bias
  local mantissa
  if exponent <= 0 then
    mantissa = round_even(ldexp(x, bias - 1 + mantissa_bits))
    exponent = 0
    if mantissa >= 2 ^ mantissa_bits then exponent, mantissa = 1, mantissa - 2 ^ mantissa_bits end
  else
    mantissa = round_even((m * 2 - 1) * 2 ^ mantissa_bits)
    if mantissa >= 2 ^ mantissa_bits then mantissa, exponent = 0, exponent + 1 end
  end
  if exponent >= top then return sign, top, 0 end
  return sign, exponent, mantissa
end

-- Whether C's (double)(float)x == x.
local function float_exact(x)
  if x ~= x then return false end
  if x == huge or x == -huge or x == 0 then return true end
  local _, e = frexp(x)
  if e > 128 then return false end
  local bits = e + 149 -- the bits a float has for x: 24, fewer below 2^-126
  if bits > 24 then bits = 24 end
  if bits <= 0 then return false end
  local m = frexp(x)
  local scaled = m * 2 ^ bits
  return scaled == floor(scaled)
end

local function encode_double(x)
  if float_exact(x) then
    local sign, exponent, mantissa = ieee_fields(x, 8, 23)
    return "\202" .. big_endian(sign * 2147483648 + exponent * 8388608 + mantissa, 4)
  end
  local sign, exponent, mantissa = ieee_fields(x, 11, 52)
  local high = sign * 2147483648 + exponent * 1048576 + floor(mantissa / TWO32)
  return "\203" .. big_endian(high, 4) .. big_endian(mantissa % TWO32, 4)
end

local function decode_float(high, low, exponent_bits, mantissa_bits)
  -- high holds sign, exponent and the top of the mantissa; low the rest (double only)
  local negative, exponent, mantissa
  if exponent_bits == 8 then
    negative = low >= 2147483648
    exponent = floor(low / 8388608) % 256
    mantissa = low % 8388608
  else
    negative = high >= 2147483648
    exponent = floor(high / 1048576) % 2048
    mantissa = (high % 1048576) * TWO32 + low
  end
  local bias = 2 ^ (exponent_bits - 1) - 1
  local value
  if exponent == 2 ^ exponent_bits - 1 then
    if mantissa ~= 0 then
      value = 0 / 0 -- x86's default NaN, whose sign bit is set
      if not negative then value = -value end
      return value
    end
    value = huge
  elseif exponent == 0 then
    value = ldexp(mantissa, 1 - bias - mantissa_bits)
  else
    value = ldexp(mantissa + 2 ^ mantissa_bits, exponent - bias - mantissa_bits)
  end
  if negative then value = -value end
  return value
end

local function encode_integer(n)
  if n >= 0 then
    if n <= 127 then return char(n) end
    if n <= 0xff then return "\204" .. char(n) end
    if n <= 0xffff then return "\205" .. big_endian(n, 2) end
    if n <= 0xffffffff then return "\206" .. big_endian(n, 4) end
    return "\207" .. big_endian64(n)
  end
  if n >= -32 then return char(n + 256) end
  if n >= -128 then return "\208" .. char(n + 256) end
  if n >= -32768 then return "\209" .. big_endian(n + 65536, 2) end
  if n >= -2147483648 then return "\210" .. big_endian(n + TWO32, 4) end
  return "\211" .. big_endian64(n)
end

-- ------------------------------------------------------------------ pack

-- An output buffer: pieces are joined every FLUSH_EVERY into a chunk, so that a big
-- output costs about its size in allocation rather than a table slot per piece.
local FLUSH_EVERY = 256

local function new_buffer()
  local pieces, size, chunks, chunk_count = {}, 0, {}, 0
  local buffer = {}
  function buffer.put(text)
    size = size + 1
    pieces[size] = text
    if size == FLUSH_EVERY then
      chunk_count = chunk_count + 1
      chunks[chunk_count] = concat(pieces, "", 1, size)
      size = 0
    end
  end
  function buffer.text()
    chunk_count = chunk_count + 1
    chunks[chunk_count] = concat(pieces, "", 1, size)
    size = 0
    local text = concat(chunks, "", 1, chunk_count)
    spend_bytes(#text)
    return text
  end
  return buffer
end

local encode_value

local function encode_bytes(text)
  local length = #text
  spend_bytes(length)
  local header
  if length < 32 then
    header = char(0xa0 + length)
  elseif length <= 0xff then
    header = "\217" .. char(length)
  elseif length <= 0xffff then
    header = "\218" .. big_endian(length, 2)
  else
    header = "\219" .. big_endian(length % TWO32, 4)
  end
  return header, text
end

-- table_is_an_array: keys 1..n, nothing else (an empty table is an array)
local function is_array(t)
  local count, largest = 0, 0
  local key = next(t)
  while key ~= nil do
    if type(key) ~= "number" or key <= 0 or key >= 2147483648 or floor(key) ~= key then
      return false, 0
    end
    if key > largest then largest = key end
    count = count + 1
    key = next(t, key)
  end
  spend(count)
  return largest == count, count
end

local function encode_table(t, level, put)
  local array, count = is_array(t)
  if array then
    if count <= 15 then
      put(char(0x90 + count))
    elseif count <= 0xffff then
      put("\220" .. big_endian(count, 2))
    else
      put("\221" .. big_endian(count, 4))
    end
    for index = 1, count do
      encode_value(rawget(t, index), level + 1, put)
    end
    return
  end
  -- Entries in the order of their encodings: Redis's follows the hash part, whose order
  -- may depend on addresses.
  local entries, size = {}, 0
  local key = next(t)
  while key ~= nil do
    local key_buffer, value_buffer = new_buffer(), new_buffer()
    encode_value(key, level + 1, key_buffer.put)
    encode_value(rawget(t, key), level + 1, value_buffer.put)
    size = size + 1
    entries[size] = { key_buffer.text(), value_buffer.text() }
    key = next(t, key)
  end
  spend(size * 8)
  sort(entries, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  if size <= 15 then
    put(char(0x80 + size))
  elseif size <= 0xffff then
    put("\222" .. big_endian(size, 2))
  else
    put("\223" .. big_endian(size, 4))
  end
  for index = 1, size do
    put(entries[index][1])
    put(entries[index][2])
  end
end

encode_value = function(value, level, put)
  local kind = type(value)
  if kind == "table" and level == MAX_NESTING then kind = "nil" end
  if kind == "number" then
    if value >= 0 and value <= 127 and floor(value) == value then
      put(char(value))
    elseif value == value and value ~= huge and value >= -9223372036854775808
      and value < 9223372036854775808 and floor(value) == value then
      put(encode_integer(value))
    else
      put(encode_double(value))
    end
  elseif kind == "string" then
    local header, text = encode_bytes(value)
    put(header)
    put(text)
  elseif kind == "boolean" then
    put(value and "\195" or "\194")
  elseif kind == "table" then
    encode_table(value, level, put)
  else
    put("\192")
  end
end

local function pack(...)
  local count = select("#", ...)
  if count == 0 then argument_error(0, "pack", "MessagePack pack needs input.") end
  local buffer = new_buffer()
  for index = 1, count do
    encode_value((select(index, ...)), 0, buffer.put)
  end
  return buffer.text()
end

-- ------------------------------------------------------------------ unpack

-- Redis's C code pushes each value on the Lua stack, which ends at LUAI_MAXCSTACK slots;
-- `base` is what the stack held before (the arguments). Lua's unpack, through which we
-- return the values, stops 2 values short of what Redis returns (7999 at most).
local RETURN_LIMIT = 7997

local function unpack_full(data, limit, offset, all, base)
  local length = #data
  if offset < 0 or limit < 0 then
    fail(format("Invalid request to unpack with offset of %d and limit of %d.", offset, length))
  elseif offset > length then
    fail(format("Start offset %d greater than input length %d.", offset, length))
  end
  spend_bytes(length)
  if all then limit = 2147483647 end
  local position = offset + 1 -- the next byte, 1-based
  local used = base -- stack slots, as the C code would hold them
  local missing = "Missing bytes in input."

  local function need(count)
    if length - position + 1 < count then fail(missing) end
  end

  local function big(count)
    local value = 0
    for index = position, position + count - 1 do value = value * 256 + byte(data, index) end
    return value
  end

  local decode

  local function decode_array(count)
    used = used + 1
    if used + 1 > MAX_STACK then fail("stack overflow (in function mp_decode_to_lua_array)") end
    local array = {}
    for index = 1, count do
      used = used + 1
      array[index] = decode()
      used = used - 1
    end
    used = used - 1
    return array
  end

  local function decode_map(count)
    used = used + 1
    local map = {}
    for _ = 1, count do
      local key = decode()
      used = used + 1
      local value = decode()
      used = used - 1
      -- lua_settable's errors, raised without a position as from C
      if key == nil then error("table index is nil", 0) end
      if key ~= key then error("table index is NaN", 0) end
      map[key] = value
    end
    used = used - 1
    return map
  end

  decode = function()
    need(1)
    if used + 1 > MAX_STACK then fail(TOO_MANY) end
    spend(4)
    local c = byte(data, position)
    if c <= 0x7f then
      position = position + 1
      return c
    elseif c >= 0xe0 then
      position = position + 1
      return c - 256
    elseif c >= 0xa0 and c <= 0xbf then
      local size = c - 0xa0
      need(1 + size)
      local text = sub(data, position + 1, position + size)
      position = position + 1 + size
      return text
    elseif c >= 0x90 and c <= 0x9f then
      position = position + 1
      return decode_array(c - 0x90)
    elseif c >= 0x80 and c <= 0x8f then
      position = position + 1
      return decode_map(c - 0x80)
    elseif c == 0xc0 then
      position = position + 1
      return nil
    elseif c == 0xc2 or c == 0xc3 then
      position = position + 1
      return c == 0xc3
    elseif c == 0xcc or c == 0xd0 then
      need(2)
      local value = byte(data, position + 1)
      position = position + 2
      if c == 0xd0 and value >= 128 then value = value - 256 end
      return value
    elseif c == 0xcd or c == 0xd1 then
      need(3)
      position = position + 1
      local value = big(2)
      position = position + 2
      if c == 0xd1 and value >= 32768 then value = value - 65536 end
      return value
    elseif c == 0xce or c == 0xd2 then
      need(5)
      position = position + 1
      local value = big(4)
      position = position + 4
      if c == 0xd2 and value >= 2147483648 then value = value - TWO32 end
      return value
    elseif c == 0xcf or c == 0xd3 then
      need(9)
      position = position + 1
      local high, low = big(4), 0
      position = position + 4
      low = big(4)
      position = position + 4
      -- both as int64 (lua_pushunsigned is lua_pushinteger on 64-bit builds)
      if high >= 2147483648 then high = high - TWO32 end
      return high * TWO32 + low -- one rounding, as C's conversion to double
    elseif c == 0xca then
      need(5)
      position = position + 1
      local bits = big(4)
      position = position + 4
      return decode_float(0, bits, 8, 23)
    elseif c == 0xcb then
      need(9)
      position = position + 1
      local high = big(4)
      position = position + 4
      local low = big(4)
      position = position + 4
      return decode_float(high, low, 11, 52)
    elseif c == 0xd9 or c == 0xda or c == 0xdb then
      local width = c == 0xd9 and 1 or (c == 0xda and 2 or 4)
      need(1 + width)
      position = position + 1
      local size = big(width)
      position = position + width
      need(size)
      spend_bytes(size)
      local text = sub(data, position, position + size - 1)
      position = position + size
      return text
    elseif c == 0xdc or c == 0xdd then
      local width = c == 0xdc and 2 or 4
      need(1 + width)
      position = position + 1
      local count = big(width)
      position = position + width
      return decode_array(count)
    elseif c == 0xde or c == 0xdf then
      local width = c == 0xde and 2 or 4
      need(1 + width)
      position = position + 1
      local count = big(width)
      position = position + width
      return decode_map(count)
    end
    fail("Bad data format in input.")
  end

  local results, count = {}, 0
  while position <= length and count < limit do
    if count >= RETURN_LIMIT then fail(TOO_MANY) end
    count = count + 1
    results[count] = decode()
    used = used + 1
  end
  if all then return unpack(results, 1, count) end
  local next_offset = position > length and -1 or position - 1
  return next_offset, unpack(results, 1, count)
end

local function string_argument(name, count, value)
  if type(value) == "number" then return tostring(value) end
  if type(value) ~= "string" then
    argument_error(1, name, "string expected, got " .. type_name(count, 1, value))
  end
  return value
end

-- luaL_checkinteger / luaL_optinteger: a number truncated towards zero
local function integer_argument(name, count, position, value, default)
  if default ~= nil and value == nil then return default end
  local n = value
  if type(n) ~= "number" then n = tonumber(n) end
  if n == nil then
    argument_error(position, name, "number expected, got " .. type_name(count, position, value))
  end
  if n ~= n then return 0 end
  return n >= 0 and floor(n) or ceil(n)
end

local function unpack_all(...)
  local count = select("#", ...)
  local data = string_argument("unpack", count, (...))
  return unpack_full(data, 2147483647, 0, true, count)
end

local function unpack_one(...)
  local count = select("#", ...)
  local data, offset = ...
  offset = integer_argument("unpack_one", count, 2, offset, 0)
  data = string_argument("unpack_one", count, data)
  return unpack_full(data, 1, offset, false, 1)
end

local function unpack_limit(...)
  local count = select("#", ...)
  local data, limit, offset = ...
  limit = integer_argument("unpack_limit", count, 2, limit)
  offset = integer_argument("unpack_limit", count, 3, offset, 0)
  data = string_argument("unpack_limit", count, data)
  return unpack_full(data, limit, offset, limit == 0 and offset == 0, 1)
end

return {
  pack = guarded(pack),
  unpack = guarded(unpack_all),
  unpack_one = guarded(unpack_one),
  unpack_limit = guarded(unpack_limit),
  _NAME = "cmsgpack",
  _VERSION = "lua-cmsgpack 0.4.0",
  _COPYRIGHT = "Copyright (C) 2012, Salvatore Sanfilippo",
  _DESCRIPTION = "MessagePack C implementation for Lua",
}
