--- Pure text helpers: UTF-16 columns (the protocol's unit) and the next word or line of a
--- suggestion. No editor state here, so the same code runs on every Neovim version and is
--- easy to test (editors/nvim/tests/text_spec.lua).
local M = {}

--- Bytes in the UTF-8 sequence that starts with byte `b` (1 for ASCII and stray bytes).
local function seq_len(b)
  if b >= 0xF0 then
    return 4
  elseif b >= 0xE0 then
    return 3
  elseif b >= 0xC0 then
    return 2
  end
  return 1
end

--- UTF-16 code units in the UTF-8 string `s`: characters beyond the BMP (4-byte sequences,
--- emoji) are surrogate pairs and count twice. Neovim 0.7's vim.str_utfindex does this too,
--- but its signature changed in 0.11, so we count ourselves.
function M.utf16_len(s)
  local units, i = 0, 1
  while i <= #s do
    local n = seq_len(s:byte(i))
    units = units + (n == 4 and 2 or 1)
    i = i + n
  end
  return units
end

--- The byte length of the first `units` UTF-16 code units of `s` (at most #s).
function M.byte_of_utf16(s, units)
  local count, i = 0, 1
  while i <= #s and count < units do
    local n = seq_len(s:byte(i))
    count = count + (n == 4 and 2 or 1)
    i = i + n
  end
  return math.min(i - 1, #s)
end

--- `s` split at every "\n" (an empty string is one empty line).
function M.lines(s)
  return vim.split(s, '\n', { plain = true })
end

-- A "word" is letters, digits, underscores and any non-ASCII character: bytes >= 0x80 are
-- never cut, so a multi-byte character is always taken whole.
local WORD = '^%s*[%w_\128-\255]+'
local PUNCT = '^%s*[^%w_\128-\255%s]+'

--- The next word of `rest` with the blanks before it, as VS Code's "accept next word" takes
--- it: "  foo(bar)" gives "  foo", then "(", then "bar", then ")". Blanks alone, if that is
--- all there is.
function M.next_word(rest)
  return rest:match(WORD) or rest:match(PUNCT) or rest
end

--- The next line of `rest`: up to its first line break; if `rest` starts at a line break,
--- that break and the line after it, so each call moves the cursor down one line.
function M.next_line(rest)
  if rest:sub(1, 1) == '\n' then
    return '\n' .. (rest:sub(2):match('^[^\n]*'))
  end
  return rest:match('^[^\n]*')
end

--- How many bytes of `suggestion` `typed` covers, if `typed` is a prefix of it; else nil.
function M.prefix_len(suggestion, typed)
  if #typed <= #suggestion and suggestion:sub(1, #typed) == typed then
    return #typed
  end
  return nil
end

return M
