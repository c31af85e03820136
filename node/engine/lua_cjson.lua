-- lua-cjson 2.1.0 as Redis embeds it (lua_cjson.c), written in Lua so that its work runs
-- under the script's instruction hook and memory limit (node/engine/lua_prelude.lua loads
-- it the first time a script names `cjson`). The C code it stands for is charged by size
-- (kit.spend_bytes) where a library function scans or copies.
--
-- One deliberate difference: an object's keys are written in a sorted order (numbers,
-- then strings), not in the order of the table's hash part, which may depend on addresses
-- and so differ between replicas. And the configuration (cjson.encode_max_depth(...) and
-- the like) lasts for the run, not for the life of the server as in Redis.

local kit, view = ...
local spend, spend_bytes = kit.spend, kit.spend_bytes
local type, select, tonumber, tostring, error, rawget, rawset, next, pcall =
  type, select, tonumber, tostring, error, rawget, rawset, next, pcall
local byte, char, sub, find, gsub, format, lower =
  string.byte, string.char, string.sub, string.find, string.gsub, string.format, string.lower
local concat, sort = table.concat, table.sort
local floor, huge = math.floor, math.huge

local INT_MAX = 2147483647
local MAX_STACK = 8000 -- Lua 5.1's LUAI_MAXCSTACK, which lua_checkstack stops at
local null = kit.json_null

local guard = kit.library_guard()
local fail, argument_error, guarded = guard.fail, guard.argument_error, guard.guarded
local type_name = kit.type_name

-- ------------------------------------------------------------------ configuration

local function new_config()
  return {
    sparse_convert = false, sparse_ratio = 2, sparse_safe = 10,
    encode_max_depth = 1000, decode_max_depth = 1000,
    encode_invalid_numbers = 0, -- 0 off, 1 on, 2 "null"
    decode_invalid_numbers = 1,
    keep_buffer = 1,
    precision = 14,
    number_format = "%.14g",
  }
end

-- json_integer_option: (the setting's value) after setting it from args[position]
local function integer_option(name, count, args, position, current, low, high)
  local value = args[position]
  if value == nil then return current end
  local n = value
  if type(n) ~= "number" then n = tonumber(n) end
  if n == nil then
    argument_error(position, name, "number expected, got " .. type_name(count, position, value))
  end
  n = n >= 0 and floor(n) or -floor(-n)
  if n >= 2147483648 or n < -2147483648 then n = n % 4294967296 end -- C's int
  if n >= 2147483648 then n = n - 4294967296 end
  if n < low or n > high then
    argument_error(1, name, format("expected integer between %d and %d", low, high))
  end
  return n
end

-- json_enum_option: (the setting, what the function returns for it)
local function enum_option(name, count, args, position, current, options)
  local value = args[position]
  if value ~= nil then
    if type(value) == "boolean" then
      current = value and 1 or 0
    else
      if type(value) ~= "string" and type(value) ~= "number" then
        argument_error(position, name,
          "string expected, got " .. type_name(count, position, value))
      end
      value = tostring(value)
      local found = nil
      for index = 1, #options do
        if options[index] == value then found = index - 1 end
      end
      if not found then argument_error(position, name, format("invalid option '%s'", value)) end
      current = found
    end
  end
  if current == 0 or current == 1 then return current, current == 1 end
  return current, options[current + 1]
end

local ON_OFF = { "off", "on" }
local INVALID_NUMBER_OPTIONS = { "off", "on", "null" }

local function configuration_functions(module, config)
  local function arguments(name, most, ...)
    local count = select("#", ...)
    if count > most then argument_error(most + 1, name, "found too many arguments") end
    return count, { ... }
  end

  module.encode_sparse_array = guarded(function(...)
    local count, args = arguments("encode_sparse_array", 3, ...)
    local convert, shown = enum_option("encode_sparse_array", count, args, 1,
      config.sparse_convert and 1 or 0, ON_OFF)
    config.sparse_convert = convert == 1
    config.sparse_ratio = integer_option("encode_sparse_array", count, args, 2,
      config.sparse_ratio, 0, INT_MAX)
    config.sparse_safe = integer_option("encode_sparse_array", count, args, 3,
      config.sparse_safe, 0, INT_MAX)
    return shown, config.sparse_ratio, config.sparse_safe
  end)

  local function integer_setting(name, key, low, high)
    module[name] = guarded(function(...)
      local count, args = arguments(name, 1, ...)
      config[key] = integer_option(name, count, args, 1, config[key], low, high)
      return config[key]
    end)
  end
  integer_setting("encode_max_depth", "encode_max_depth", 1, INT_MAX)
  integer_setting("decode_max_depth", "decode_max_depth", 1, INT_MAX)
  module.encode_number_precision = guarded(function(...)
    local count, args = arguments("encode_number_precision", 1, ...)
    config.precision = integer_option("encode_number_precision", count, args, 1,
      config.precision, 1, 14)
    config.number_format = "%." .. config.precision .. "g"
    return config.precision
  end)

  local function enum_setting(name, key, options)
    module[name] = guarded(function(...)
      local count, args = arguments(name, 1, ...)
      local value, shown = enum_option(name, count, args, 1, config[key], options)
      config[key] = value
      return shown
    end)
  end
  enum_setting("encode_keep_buffer", "keep_buffer", ON_OFF)
  enum_setting("encode_invalid_numbers", "encode_invalid_numbers", INVALID_NUMBER_OPTIONS)
  enum_setting("decode_invalid_numbers", "decode_invalid_numbers", ON_OFF)
end

-- ------------------------------------------------------------------ encoding

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["/"] = "\\/", ["\b"] = "\\b", ["\t"] = "\\t",
  ["\n"] = "\\n", ["\f"] = "\\f", ["\r"] = "\\r", ["\127"] = "\\u007f",
}
for code = 0, 31 do
  local c = char(code)
  if not ESCAPES[c] then ESCAPES[c] = format("\\u%04x", code) end
end
local ESCAPED = '[%c"\\/]'

local function quote(text)
  spend_bytes(#text)
  if find(text, ESCAPED) then
    spend_bytes(#text * 6)
    text = gsub(text, ESCAPED, ESCAPES)
  end
  return '"' .. text .. '"'
end

local function number_text(config, number)
  if number ~= number or number == huge or number == -huge then
    local mode = config.encode_invalid_numbers
    if mode == 0 then fail("Cannot serialise number: must not be NaN or Inf") end
    if mode == 2 then return "null" end
    if number ~= number then return "nan" end
  end
  return format(config.number_format, number)
end

local KEY_ORDER = { number = 1, string = 2 }

-- Pieces are joined every FLUSH_EVERY into a chunk: a big output costs about its size in
-- allocation rather than a table slot per piece.
local FLUSH_EVERY = 256

local function encoder(config)
  local out, size, chunks, chunk_count = nil, 0, nil, 0
  local encode_value

  local function put(text)
    size = size + 1
    out[size] = text
    if size == FLUSH_EVERY then
      chunk_count = chunk_count + 1
      chunks[chunk_count] = concat(out, "", 1, size)
      size = 0
    end
  end

  -- lua_array_length: the array's length, or -1 for an object
  local function array_length(t)
    local largest, items = 0, 0
    local key = next(t)
    while key ~= nil do
      if type(key) == "number" and key ~= 0 and floor(key) == key and key >= 1 then
        if key > largest then largest = key end
        items = items + 1
      else
        return -1
      end
      key = next(t, key)
    end
    spend(items)
    local ratio = config.sparse_ratio
    if ratio > 0 and largest > items * ratio and largest > config.sparse_safe then
      if not config.sparse_convert then fail("Cannot serialise table: excessively sparse array") end
      return -1
    end
    return largest
  end

  local function encode_object(t, depth, slots)
    local keys, count = {}, 0
    local bad = nil
    local key = next(t)
    while key ~= nil do
      local kind = type(key)
      if KEY_ORDER[kind] then
        count = count + 1
        keys[count] = key
      elseif bad == nil or kind < bad then
        bad = kind
      end
      key = next(t, key)
    end
    if bad then fail("Cannot serialise " .. bad .. ": table key must be a number or string") end
    spend(count * 4)
    sort(keys, function(a, b)
      local ka, kb = KEY_ORDER[type(a)], KEY_ORDER[type(b)]
      if ka ~= kb then return ka < kb end
      return a < b
    end)
    put("{")
    for index = 1, count do
      if index > 1 then put(",") end
      key = keys[index]
      if type(key) == "number" then
        put('"' .. number_text(config, key) .. '":')
      else
        put(quote(key))
        put(":")
      end
      encode_value(rawget(t, key), depth, slots + 2)
    end
    put("}")
  end

  encode_value = function(value, depth, slots)
    local kind = type(value)
    if kind == "string" then
      put(quote(value))
    elseif kind == "number" then
      put(number_text(config, value))
    elseif kind == "boolean" then
      put(value and "true" or "false")
    elseif kind == "nil" or value == null then
      put("null")
    elseif kind == "table" then
      depth = depth + 1
      if depth > config.encode_max_depth or slots + 3 > MAX_STACK then
        fail(format("Cannot serialise, excessive nesting (%d)", depth))
      end
      local length = array_length(value)
      if length > 0 then
        put("[")
        for index = 1, length do
          if index > 1 then put(",") end
          encode_value(rawget(value, index), depth, slots + 1)
        end
        put("]")
      else
        encode_object(value, depth, slots)
      end
    else
      fail("Cannot serialise " .. kind .. ": type not supported")
    end
  end

  return function(...)
    if select("#", ...) ~= 1 then argument_error(1, "encode", "expected 1 argument") end
    out, size, chunks, chunk_count = {}, 0, {}, 0
    encode_value((...), 0, 1)
    chunk_count = chunk_count + 1
    chunks[chunk_count] = concat(out, "", 1, size)
    local text = concat(chunks, "", 1, chunk_count)
    spend_bytes(#text)
    out, chunks = nil, nil
    return text
  end
end

-- ------------------------------------------------------------------ decoding

local TOKEN_NAMES = {
  ["{"] = "T_OBJ_BEGIN", ["}"] = "T_OBJ_END", ["["] = "T_ARR_BEGIN", ["]"] = "T_ARR_END",
  [":"] = "T_COLON", [","] = "T_COMMA",
  string = "T_STRING", number = "T_NUMBER", boolean = "T_BOOLEAN", null = "T_NULL",
  ["end"] = "T_END",
}
local SINGLE = { [123] = "{", [125] = "}", [91] = "[", [93] = "]", [44] = ",", [58] = ":" }
local UNESCAPED = {
  [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [116] = "\t", [110] = "\n", [102] = "\f",
  [114] = "\r",
}

local function hex_digit(c) -- hexdigit2int
  if not c then return nil end
  if c >= 48 and c <= 57 then return c - 48 end
  if c >= 65 and c <= 70 then return c - 55 end
  if c >= 97 and c <= 102 then return c - 87 end
  return nil
end

local function hex4(data, position)
  local value = 0
  for index = position, position + 3 do
    local digit = hex_digit(byte(data, index))
    if not digit then return nil end
    value = value * 16 + digit
  end
  return value
end

local function utf8(codepoint)
  if codepoint <= 0x7F then return char(codepoint) end
  if codepoint <= 0x7FF then
    return char(floor(codepoint / 64) + 0xC0, codepoint % 64 + 0x80)
  end
  if codepoint <= 0xFFFF then
    return char(floor(codepoint / 4096) + 0xE0, floor(codepoint / 64) % 64 + 0x80,
      codepoint % 64 + 0x80)
  end
  return char(floor(codepoint / 262144) + 0xF0, floor(codepoint / 4096) % 64 + 0x80,
    floor(codepoint / 64) % 64 + 0x80, codepoint % 64 + 0x80)
end

-- How many bytes C's strtod would read of data at `position` (0: none), as glibc does.
local function strtod_length(data, position)
  local start = position
  local c = byte(data, position)
  if c == 43 or c == 45 then position = position + 1 end -- + -
  local head = lower(sub(data, position, position + 7))
  if sub(head, 1, 3) == "inf" then
    if head == "infinity" then return position + 8 - start end
    return position + 3 - start
  end
  if sub(head, 1, 3) == "nan" then
    local after = position + 3
    if byte(data, after) == 40 then -- (n-char-sequence)
      local _, close = find(data, "^[%w_]*%)", after + 1)
      if close then after = close + 1 end
    end
    return after - start
  end
  if sub(head, 1, 2) == "0x" then
    local _, digits_end = find(data, "^%x*", position + 2)
    local _, fraction_end = find(data, "^%.?%x*", digits_end + 1)
    if fraction_end - (digits_end + 1) + 1 > 0 then
      local fraction = sub(data, digits_end + 1, fraction_end)
      if (digits_end >= position + 2) or find(fraction, "%x") then
        local _, exponent_end = find(data, "^[pP][-+]?%d+", fraction_end + 1)
        return (exponent_end or fraction_end) + 1 - start
      end
    elseif digits_end >= position + 2 then
      local _, exponent_end = find(data, "^[pP][-+]?%d+", digits_end + 1)
      return (exponent_end or digits_end) + 1 - start
    end
    return position + 1 - start -- "0" and no more
  end
  local _, integer_end = find(data, "^%d*", position)
  local last = integer_end
  local digits = integer_end - position + 1
  if byte(data, integer_end + 1) == 46 then -- .
    local _, fraction_end = find(data, "^%d*", integer_end + 2)
    digits = digits + fraction_end - (integer_end + 1)
    last = fraction_end
  end
  if digits == 0 then return 0 end
  local _, exponent_end = find(data, "^[eE][-+]?%d+", last + 1)
  return (exponent_end or last) + 1 - start
end

-- json_is_invalid_number: numbers strict JSON refuses that strtod would read
local function invalid_number(data, position)
  local c = byte(data, position)
  if c == 43 then return true end -- +
  if c == 45 then
    position = position + 1
    c = byte(data, position)
  end
  if c == 48 then -- 0
    local next_char = byte(data, position + 1)
    if next_char == 120 or next_char == 88 or (next_char and next_char >= 48 and next_char <= 57) then
      return true
    end
    return false
  end
  if not c or c <= 57 then return false end
  local head = lower(sub(data, position, position + 2))
  return head == "inf" or head == "nan"
end

-- What may follow digits in a number strtod reads on: . e E x X p P ( n N i I
local STRTOD_GOES_ON = {}
for _, c in ipairs({ 46, 101, 69, 120, 88, 112, 80, 40, 110, 78, 105, 73 }) do
  STRTOD_GOES_ON[c] = true
end

local function decoder(config)
  return function(...)
    local count = select("#", ...)
    if count ~= 1 then argument_error(1, "decode", "expected 1 argument") end
    local data = ...
    if type(data) == "number" then
      data = tostring(data)
    elseif type(data) ~= "string" then
      argument_error(1, "decode", "string expected, got " .. type(data))
    end
    local length = #data
    spend_bytes(length * 2)
    if length >= 2 and (byte(data, 1) == 0 or byte(data, 2) == 0) then
      fail("JSON parser does not support UTF-16 or UTF-32")
    end
    -- A C string: the first NUL ends the input.
    local stop = find(data, "\0", 1, true)
    local limit = stop and stop - 1 or length

    local position = 1
    -- the nesting, and the Lua stack slots Redis's parser would hold there (its argument,
    -- then per enclosing array its table, per enclosing object its table and a key)
    local depth, slots = 0, 1
    -- the current token: kind (a key of TOKEN_NAMES, or "error"), value, index (0-based)
    local kind, value, index

    local function set_error(message, at)
      kind, value, index = "error", message, at - 1
    end

    local function next_string()
      local parts, size = {}, 0
      local at = position + 1
      while true do
        local special = find(data, '["\\%z]', at)
        if not special or special > limit then
          set_error("unexpected end of string", (special and special <= limit) and special
            or limit + 1)
          return
        end
        if special > at then
          size = size + 1
          parts[size] = sub(data, at, special - 1)
        end
        local c = byte(data, special)
        if c == 34 then -- "
          position = special + 1
          kind, value = "string", concat(parts, "", 1, size)
          return
        end
        if c == 0 then
          set_error("unexpected end of string", special)
          return
        end
        local escape = special + 1 <= limit and byte(data, special + 1) or 0
        if escape == 117 then -- u
          local codepoint = hex4(data, special + 2)
          local consumed = 6
          if codepoint and special + 5 > limit then codepoint = nil end
          if codepoint and codepoint >= 0xD800 and codepoint <= 0xDFFF then
            if codepoint >= 0xDC00 then
              codepoint = nil
            elseif byte(data, special + 6) ~= 92 or byte(data, special + 7) ~= 117 then
              codepoint = nil
            else
              local low = hex4(data, special + 8)
              if not low or special + 11 > limit or low < 0xDC00 or low > 0xDFFF then
                codepoint = nil
              else
                codepoint = (codepoint - 0xD800) * 1024 + (low - 0xDC00) + 0x10000
                consumed = 12
              end
            end
          end
          if not codepoint then
            set_error("invalid unicode escape code", special)
            return
          end
          size = size + 1
          parts[size] = utf8(codepoint)
          at = special + consumed
        else
          local unescaped = UNESCAPED[escape]
          if not unescaped then
            set_error("invalid escape code", special)
            return
          end
          size = size + 1
          parts[size] = unescaped
          at = special + 2
        end
      end
    end

    local function next_number()
      -- the usual case: digits that end where an integer ends for strtod too
      local _, last = find(data, "^-?%d+", position)
      if last and not STRTOD_GOES_ON[byte(data, last + 1) or 0] then
        kind, value = "number", tonumber(sub(data, position, last))
        position = last + 1
        return
      end
      local consumed = strtod_length(data, position)
      if consumed == 0 then
        set_error("invalid number", position)
        return
      end
      kind, value = "number", tonumber(sub(data, position, position + consumed - 1))
      position = position + consumed
    end

    local function next_token()
      local at = find(data, "[^ \t\n\r]", position)
      position = at or length + 1
      index = position - 1
      if position > limit then
        kind = "end"
        return
      end
      local c = byte(data, position)
      local single = SINGLE[c]
      if single then
        kind = single
        position = position + 1
        return
      end
      if c == 34 then return next_string() end
      if c == 45 or (c >= 48 and c <= 57) then
        if config.decode_invalid_numbers == 0 and invalid_number(data, position) then
          set_error("invalid number", position)
          return
        end
        return next_number()
      end
      if c == 116 or c == 102 or c == 110 or c == 105 or c == 73 or c == 78 or c == 43 then
        if sub(data, position, position + 3) == "true" and position + 3 <= limit then
          kind, value = "boolean", true
          position = position + 4
          return
        end
        if sub(data, position, position + 4) == "false" and position + 4 <= limit then
          kind, value = "boolean", false
          position = position + 5
          return
        end
        if sub(data, position, position + 3) == "null" and position + 3 <= limit then
          kind, value = "null", null
          position = position + 4
          return
        end
        if config.decode_invalid_numbers == 1 and invalid_number(data, position) then
          return next_number()
        end
      end
      set_error("invalid token", position)
    end

    local function throw(expected)
      local found = kind == "error" and value or TOKEN_NAMES[kind]
      fail(format("Expected %s but found %s at character %d", expected, found, index + 1))
    end

    local function descend(needed)
      depth = depth + 1
      if depth > config.decode_max_depth or slots + needed > MAX_STACK then
        fail(format("Found too many nested data structures (%d) at character %d", depth,
          position - 1))
      end
      slots = slots + needed - 1
    end

    local function ascend(needed)
      depth = depth - 1
      slots = slots - needed + 1
    end

    local process_value

    local function parse_object()
      descend(3)
      local object = {}
      next_token()
      if kind == "}" then
        ascend(3)
        return object
      end
      while true do
        if kind ~= "string" then throw("object key string") end
        local key = value
        next_token()
        if kind ~= ":" then throw("colon") end
        next_token()
        rawset(object, key, process_value())
        next_token()
        if kind == "}" then
          ascend(3)
          return object
        end
        if kind ~= "," then throw("comma or object end") end
        next_token()
      end
    end

    local function parse_array()
      descend(2)
      local array = {}
      next_token()
      if kind == "]" then
        ascend(2)
        return array
      end
      local count_ = 0
      while true do
        count_ = count_ + 1
        rawset(array, count_, process_value())
        next_token()
        if kind == "]" then
          ascend(2)
          return array
        end
        if kind ~= "," then throw("comma or array end") end
        next_token()
      end
    end

    process_value = function()
      if kind == "string" or kind == "number" or kind == "boolean" or kind == "null" then
        return value
      end
      if kind == "{" then return parse_object() end
      if kind == "[" then return parse_array() end
      throw("value")
    end

    next_token()
    local result = process_value()
    next_token()
    if kind ~= "end" then throw("the end") end
    return result
  end
end

-- ------------------------------------------------------------------ the module

local function new_module()
  local module = {}
  local config = new_config()
  module.encode = guarded(encoder(config))
  module.decode = guarded(decoder(config))
  configuration_functions(module, config)
  module.new = guarded(function() return new_module() end)
  module.null = null
  module._NAME = "cjson"
  module._VERSION = "2.1.0"
  return module
end

return new_module()
