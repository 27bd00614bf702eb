-- The checks of the headless specs: `check(name, ok, got)` counts, and writes each failure
-- with what was got to stderr; `finish()` prints "N passed, M failed" and quits Neovim,
-- non-zero on a failure. Loaded with dofile, beside the spec.
local passed, failed = 0, 0

local M = {}

function M.check(name, ok, got)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write(('FAIL %s: %s\n'):format(name, vim.inspect(got)))
  end
end

function M.finish()
  print(('%d passed, %d failed'):format(passed, failed))
  vim.cmd(failed == 0 and 'qa!' or 'cq!')
end

return M
