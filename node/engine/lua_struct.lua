-- Roberto Ierusalimschy's struct 0.2 library as Redis embeds it (lua_struct.c), written in
-- Lua so that its work runs under the script's instruction hook and memory limit
-- (node/engine/lua_prelude.lua loads it the first time a script names `struct`). Formats:
-- > < endianness (little by default, as on x86), !n alignment, x padding, b B h H l L T
-- i[n] I[n] integers (char, short, long and size_t of x86-64: 1, 2, 8, 8 bytes; int: 4),
-- f d floats, s zero-terminated and c[n] fixed strings. Integers are packed from a
-- double as C converts it (truncated, then two's complement over 64 bits) and unpacked to
-- the double nearest the 64-bit value, as the C library does on x86-64.

local kit = ...
local spend, spend_bytes = kit.spend, kit.spend_bytes
local type, select, tonumber, tostring, error, format = type, select, tonumber, tostring,
  error, string.format
local byte, char, sub, find, rep, concat = string.byte, string.char, string.sub, string.find,
  string.rep, table.concat
local floor, ceil, frexp, ldexp, huge = math.floor, math.ceil, math.frexp, math.ldexp, math.huge

local MAXINTSIZE = 32
local MAXALIGN = 8
local TWO32 = 4294967296
local INT_MAX = 2147483647

local PUBLIC = {} -- the library's functions, for kit.library_error

local function fail(message)
  kit.library_error(PUBLIC, message)
end

local function argument_error(position, _, message)
  kit.library_error(PUBLIC, message, position)
end

local type_name = kit.type_name

-- pack's arguments: pack pushes a nil after them, which a missing one then is.
local function check_number(function_name, count, position, value)
  local n = value
  if type(n) ~= "number" then n = tonumber(n) end
  if n == nil then
    local got = function_name == "pack" and type(value) or type_name(count, position, value)
    argument_error(position, function_name, "number expected, got " .. got)
  end
  return n
end

local function check_string(function_name, count, position, value)
  if type(value) == "number" then return tostring(value) end
  if type(value) ~= "string" then
    local got = type_name(count, position, value)
    if function_name == "pack" and position > 1 then got = type(value) end
    argument_error(position, function_name, "string expected, got " .. got)
  end
  return value
end

local function is_digit(c) return c and c >= 48 and c <= 57 end

-- A number in the format at `index`, or `default`: (value, next index).
local function read_number(format_, index, default)
  local c = byte(format_, index)
  if not is_digit(c) then return default, index end
  local value = 0
  while is_digit(c) do
    if value > (INT_MAX - (c - 48)) / 10 then fail("integral size overflow") end
    value = value * 10 + (c - 48)
    index = index + 1
    c = byte(format_, index)
  end
  return value, index
end

local SIZES = { b = 1, B = 1, h = 2, H = 2, l = 8, L = 8, T = 8, f = 4, d = 8, x = 1 }

-- optsize: the size of option `option`, reading its number: (size, next index).
local function option_size(option, format_, index)
  local size = SIZES[option]
  if size then return size, index end
  if option == "c" then return read_number(format_, index, 1) end
  if option == "i" or option == "I" then
    size, index = read_number(format_, index, 4)
    if size > MAXINTSIZE then
      fail(format("integral size %d is larger than limit of %d", size, MAXINTSIZE))
    end
    return size, index
  end
  return 0, index
end

local function to_align(position, align, option, size)
  if size == 0 or option == "c" then return 0 end
  if size > align then size = align end
  return (size - position % size) % size
end

-- controloptions: (little, align, next index) after a control option.
local function control(option, format_, index, little, align, function_name)
  if option == " " then return little, align, index end
  if option == ">" then return false, align, index end
  if option == "<" then return true, align, index end
  if option == "!" then
    local a
    a, index = read_number(format_, index, MAXALIGN)
    local power = 1
    while power < a do power = power * 2 end
    if a <= 0 or power ~= a then fail(format("alignment %d is not a power of 2", a)) end
    return little, a, index
  end
  argument_error(1, function_name, format("invalid format option '%s'", option))
end

-- ------------------------------------------------------------------ numbers <-> bytes

-- The two 32-bit halves of the 64-bit two's complement of C's (unsigned long) conversion
-- of n: negative numbers through (long), out of range and NaN as x86-64 converts them.
local function halves(n)
  if n ~= n then return 0, 0 end
  local t = n >= 0 and floor(n) or ceil(n)
  if t < 0 then
    if t < -9223372036854775808 then return 2147483648, 0 end -- LONG_MIN
    local high = floor(t / TWO32)
    return high + TWO32, t - high * TWO32
  end
  if t >= 18446744073709551616 then return 0, 0 end
  if t >= 9223372036854775808 then
    local high = floor(t / TWO32)
    return high, t - high * TWO32
  end
  local high = floor(t / TWO32)
  return high, t - high * TWO32
end

local function integer_bytes(n, size, little)
  local high, low = halves(n)
  local out = {}
  for index = 1, size do
    local value = 0
    if index <= 4 then
      value = low % 256
      low = (low - value) / 256
    elseif index <= 8 then
      value = high % 256
      high = (high - value) / 256
    end
    out[index] = value
  end
  if not little then
    local reversed = {}
    for index = 1, size do reversed[index] = out[size + 1 - index] end
    out = reversed
  end
  return char(unpack(out, 1, size))
end

-- getinteger: the value of `size` bytes as a double (the nearest to the 64-bit value).
local function bytes_integer(data, position, size, little, signed_)
  local values = { byte(data, position, position + size - 1) }
  if little then
    local reversed = {}
    for index = 1, size do reversed[index] = values[size + 1 - index] end
    values = reversed
  end
  -- big-endian now; only the last 8 bytes survive in a 64-bit accumulator
  local high, low = 0, 0
  local first = size > 8 and size - 7 or 1
  for index = first, size do
    high = (high % 16777216) * 256 + floor(low / 16777216)
    low = (low % 16777216) * 256 + values[index]
  end
  if signed_ then
    -- the sign bit at size*8-1, its mask shifted as x86 shifts (count modulo 64)
    local sign = (size * 8 - 1) % 64
    local negative
    if sign >= 32 then
      negative = floor(high / 2 ^ (sign - 32)) % 2 == 1
    else
      negative = floor(low / 2 ^ sign) % 2 == 1
    end
    if negative then
      -- l |= mask: every bit from `sign` up
      if sign >= 32 then
        local kept = high % 2 ^ (sign - 32)
        high = TWO32 - 2 ^ (sign - 32) + kept
      else
        local kept = low % 2 ^ sign
        low = TWO32 - 2 ^ sign + kept
        high = TWO32 - 1
      end
    end
    if high >= 2147483648 then return (high - TWO32) * TWO32 + low end
  end
  return high * TWO32 + low
end

-- IEEE 754 bytes of a double (`float_`: rounded to a float first, as C does).
local FLOAT = { bias = 127, mantissa = 23, max_exponent = 255 }
local DOUBLE = { bias = 1023, mantissa = 52, max_exponent = 2047 }

local function round_even(x)
  local f = floor(x)
  local d = x - f
  if d > 0.5 or (d == 0.5 and f % 2 == 1) then return f + 1 end
  return f
end

local function is_negative(x)
  return x < 0 or (x == 0 and 1 / x < 0) or (x ~= x and sub(format("%f", x), 1, 1) == "-")
end

-- (sign, biased exponent, mantissa) of x in the format
local function ieee_fields(x, kind)
  local sign = is_negative(x) and 1 or 0
  if x ~= x then return sign, kind.max_exponent, 2 ^ (kind.mantissa - 1) end
  if x < 0 then x = -x end
  if x == huge then return sign, kind.max_exponent, 0 end
  if x == 0 then return sign, 0, 0 end
  local m, e = frexp(x) -- x = m * 2^e, 0.5 <= m < 1
  local exponent = e - 1 + kind.bias
  local mantissa
  if exponent <= 0 then -- subnormal
    mantissa = round_even(ldexp(x, kind.bias - 1 + kind.mantissa))
    exponent = 0
    if mantissa >= 2 ^ kind.mantissa then exponent, mantissa = 1, mantissa - 2 ^ kind.mantissa end
  else
    mantissa = round_even((m * 2 - 1) * 2 ^ kind.mantissa)
    if mantissa >= 2 ^ kind.mantissa then
      mantissa, exponent = 0, exponent + 1
    end
  end
  if exponent >= kind.max_exponent then return sign, kind.max_exponent, 0 end
  return sign, exponent, mantissa
end

-- The bit pattern of x in the format as (high, low) 32-bit halves (a float: low only).
local function float_halves(x, kind)
  local sign, exponent, mantissa = ieee_fields(x, kind)
  if kind == FLOAT then return 0, sign * 2147483648 + exponent * 8388608 + mantissa end
  local high = sign * 2147483648 + exponent * 1048576 + floor(mantissa / TWO32)
  return high, mantissa % TWO32
end

local function halves_bytes(high, low, size, little)
  local out = {}
  for index = 1, size do
    local value
    if index <= 4 then
      value = low % 256
      low = (low - value) / 256
    else
      value = high % 256
      high = (high - value) / 256
    end
    out[index] = value
  end
  if not little then
    local reversed = {}
    for index = 1, size do reversed[index] = out[size + 1 - index] end
    out = reversed
  end
  return char(unpack(out, 1, size))
end

local function float_bytes(x, kind, size, little)
  local high, low = float_halves(x, kind)
  return halves_bytes(high, low, size, little)
end

local function bytes_float(data, position, kind, size, little)
  local values = { byte(data, position, position + size - 1) }
  local high, low = 0, 0
  for index = 1, size do
    local value = values[little and size + 1 - index or index] -- most significant first
    if size - index >= 4 then
      high = high * 256 + value
    else
      low = low * 256 + value
    end
  end
  local negative, exponent, mantissa
  if kind == FLOAT then
    negative = low >= 2147483648
    exponent = floor(low / 8388608) % 256
    mantissa = low % 8388608
  else
    negative = high >= 2147483648
    exponent = floor(high / 1048576) % 2048
    mantissa = (high % 1048576) * TWO32 + low
  end
  local value
  if exponent == kind.max_exponent then
    if mantissa ~= 0 then
      value = 0 / 0 -- x86's default NaN, whose sign bit is set
      if not negative then value = -value end
      return value
    end
    value = huge
  elseif exponent == 0 then
    value = ldexp(mantissa, 1 - kind.bias - kind.mantissa)
  else
    value = ldexp(mantissa + 2 ^ kind.mantissa, exponent - kind.bias - kind.mantissa)
  end
  if negative then value = -value end
  return value
end

-- C's (float) of a double: the nearest float, overflowing to infinity.
local function to_float(x)
  if x ~= x or x == huge or x == -huge or x == 0 then return x end
  local sign, exponent, mantissa = ieee_fields(x, FLOAT)
  local value
  if exponent == FLOAT.max_exponent then
    value = huge
  elseif exponent == 0 then
    value = ldexp(mantissa, 1 - 127 - 23)
  else
    value = ldexp(mantissa + 2 ^ 23, exponent - 127 - 23)
  end
  if sign == 1 then value = -value end
  return value
end

-- ------------------------------------------------------------------ the library

local function pack(...)
  local count = select("#", ...)
  local format_ = check_string("pack", count, 1, (...))
  spend_bytes(#format_ * 8)
  local little, align = true, 1
  local out, pieces, total = {}, 0, 0
  local argument_index = 2
  local index = 1
  local length = #format_
  while index <= length do
    local option = sub(format_, index, index)
    if option == "\0" then break end
    index = index + 1
    local size
    size, index = option_size(option, format_, index)
    local padding = to_align(total, align, option, size)
    total = total + padding
    if padding > 0 then
      pieces = pieces + 1
      out[pieces] = rep("\0", padding)
    end
    if option == "b" or option == "B" or option == "h" or option == "H" or option == "l"
      or option == "L" or option == "T" or option == "i" or option == "I" then
      local n = check_number("pack", count, argument_index, (select(argument_index, ...)))
      argument_index = argument_index + 1
      pieces = pieces + 1
      out[pieces] = integer_bytes(n, size, little)
    elseif option == "x" then
      pieces = pieces + 1
      out[pieces] = "\0"
    elseif option == "f" then
      local n = check_number("pack", count, argument_index, (select(argument_index, ...)))
      argument_index = argument_index + 1
      pieces = pieces + 1
      out[pieces] = float_bytes(to_float(n), FLOAT, 4, little)
    elseif option == "d" then
      local n = check_number("pack", count, argument_index, (select(argument_index, ...)))
      argument_index = argument_index + 1
      pieces = pieces + 1
      out[pieces] = float_bytes(n, DOUBLE, 8, little)
    elseif option == "c" or option == "s" then
      local text = check_string("pack", count, argument_index, (select(argument_index, ...)))
      argument_index = argument_index + 1
      if size == 0 then size = #text end
      if #text < size then argument_error(argument_index, "pack", "string too short") end
      spend_bytes(size)
      pieces = pieces + 1
      out[pieces] = sub(text, 1, size)
      if option == "s" then
        pieces = pieces + 1
        out[pieces] = "\0"
        size = size + 1
      end
    else
      little, align, index = control(option, format_, index, little, align, "pack")
    end
    total = total + size
    spend(8)
  end
  spend_bytes(total)
  return concat(out, "", 1, pieces)
end

local function unpack_(...)
  local count = select("#", ...)
  local format_, data, start = ...
  format_ = check_string("unpack", count, 1, format_)
  data = check_string("unpack", count, 2, data)
  local position = 1
  if count >= 3 and start ~= nil then
    position = check_number("unpack", count, 3, start)
    position = position >= 0 and floor(position) or ceil(position)
  end
  if position <= 0 then argument_error(3, "unpack", "offset must be 1 or greater") end
  spend_bytes(#format_ * 8)
  position = position - 1 -- 0-based from here
  local length = #data
  local little, align = true, 1
  local results, n = {}, 0
  local index = 1
  local format_length = #format_
  while index <= format_length do
    local option = sub(format_, index, index)
    if option == "\0" then break end
    index = index + 1
    local size
    size, index = option_size(option, format_, index)
    position = position + to_align(position, align, option, size)
    if not (size <= length and position <= length - size) then
      argument_error(2, "unpack", "data string too short")
    end
    -- luaL_checkstack(L, 2): the stack ends at LUAI_MAXCSTACK slots; Lua's unpack, which
    -- returns the values here, stops a value or two short of that
    if count + n + 2 > 8000 or n + 1 >= 7997 then fail("stack overflow (too many results)") end
    if option == "b" or option == "B" or option == "h" or option == "H" or option == "l"
      or option == "L" or option == "T" or option == "i" or option == "I" then
      n = n + 1
      local lower = option == "b" or option == "h" or option == "l" or option == "i"
      results[n] = bytes_integer(data, position + 1, size, little, lower)
    elseif option == "x" then
      -- padding
    elseif option == "f" then
      n = n + 1
      results[n] = bytes_float(data, position + 1, FLOAT, 4, little)
    elseif option == "d" then
      n = n + 1
      results[n] = bytes_float(data, position + 1, DOUBLE, 8, little)
    elseif option == "c" then
      if size == 0 then
        if n == 0 or type(tonumber(results[n])) ~= "number" then
          fail("format 'c0' needs a previous size")
        end
        local previous = tonumber(results[n])
        size = previous >= 0 and floor(previous) or ceil(previous)
        results[n] = nil
        n = n - 1
        if size < 0 then size = size + 18446744073709551616 end
        if not (size <= length and position <= length - size) then
          argument_error(2, "unpack", "data string too short")
        end
      end
      spend_bytes(size)
      n = n + 1
      results[n] = sub(data, position + 1, position + size)
    elseif option == "s" then
      local zero = find(data, "\0", position + 1, true)
      spend_bytes(zero and zero - position or length - position)
      if not zero then fail("unfinished string in data") end
      size = zero - position
      n = n + 1
      results[n] = sub(data, position + 1, zero - 1)
    else
      little, align, index = control(option, format_, index, little, align, "unpack")
    end
    position = position + size
    spend(8)
  end
  n = n + 1
  results[n] = position + 1
  return unpack(results, 1, n)
end

local function size_(...)
  local count = select("#", ...)
  local format_ = check_string("size", count, 1, (...))
  spend_bytes(#format_ * 8)
  local little, align = true, 1
  local position = 0
  local index = 1
  while index <= #format_ do
    local option = sub(format_, index, index)
    if option == "\0" then break end
    index = index + 1
    local size
    size, index = option_size(option, format_, index)
    position = position + to_align(position, align, option, size)
    if option == "s" then
      argument_error(1, "size", "option 's' has no fixed size")
    elseif option == "c" and size == 0 then
      argument_error(1, "size", "option 'c0' has no fixed size")
    end
    if not find(option, "^%w$") then
      little, align, index = control(option, format_, index, little, align, "size")
    end
    position = position + size
  end
  return position
end

PUBLIC[pack], PUBLIC[unpack_], PUBLIC[size_] = true, true, true
return { pack = pack, unpack = unpack_, size = size_ }
