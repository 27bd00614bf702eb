-- Unit checks of lua/tactful/text.lua, run headless by tests/test_nvim_e2e.py:
--   nvim --headless --clean --cmd 'set rtp^=editors/nvim' -c 'luafile editors/nvim/tests/text_spec.lua'
-- Prints "N passed, M failed" and exits non-zero on a failure.
local text = require('tactful.text')

local passed, failed = 0, 0
local function eq(name, got, want)
  if vim.deep_equal(got, want) then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write(('FAIL %s: got %s, want %s\n'):format(name, vim.inspect(got), vim.inspect(want)))
  end
end

-- UTF-16 code units: "é" (2 bytes) and "世" (3 bytes) are one unit, "😀" (4 bytes) two.
eq('ascii', text.utf16_len('abc'), 3)
eq('empty', text.utf16_len(''), 0)
eq('latin', text.utf16_len('Grüße'), 5)
eq('cjk', text.utf16_len('世界'), 2)
eq('emoji', text.utf16_len('a😀b'), 4)
eq('mixed', text.utf16_len('x = "é😀世"'), 10)

eq('byte of 0', text.byte_of_utf16('é😀世', 0), 0)
eq('byte after é', text.byte_of_utf16('é😀世', 1), 2)
eq('byte after 😀', text.byte_of_utf16('é😀世', 3), 6)
eq('byte after 世', text.byte_of_utf16('é😀世', 4), 9)
eq('byte past the end', text.byte_of_utf16('ab', 9), 2)
for _, s in ipairs({ 'plain', 'Grüße, 世界 😀 end', '' }) do
  eq('round trip ' .. s, text.byte_of_utf16(s, text.utf16_len(s)), #s)
end

eq('word', text.next_word('foo(bar)'), 'foo')
eq('blank then word', text.next_word('  len(x) > 1:'), '  len')
eq('punctuation', text.next_word('(x)'), '(')
eq('operator with blank', text.next_word(' <= 1'), ' <=')
eq('non-ASCII word whole', text.next_word('Grüße welt'), 'Grüße')
eq('emoji whole', text.next_word('😀 x'), '😀')
eq('blanks only', text.next_word('   '), '   ')
eq('newline and indent go with the word', text.next_word('\n    return x'), '\n    return')

eq('line', text.next_line('a = 1\nb = 2'), 'a = 1')
eq('at a break: the next line', text.next_line('\n    b = 2\nc'), '\n    b = 2')
eq('last line', text.next_line('tail'), 'tail')
eq('lone break', text.next_line('\n'), '\n')

eq('prefix', text.prefix_len('hello', 'he'), 2)
eq('whole', text.prefix_len('hello', 'hello'), 5)
eq('empty prefix', text.prefix_len('hello', ''), 0)
eq('not a prefix', text.prefix_len('hello', 'hx'), nil)
eq('longer', text.prefix_len('he', 'hello'), nil)

eq('lines', text.lines('a\n\nb'), { 'a', '', 'b' })
eq('one empty line', text.lines(''), { '' })

print(('%d passed, %d failed'):format(passed, failed))
vim.cmd(failed == 0 and 'qa!' or 'cq')
