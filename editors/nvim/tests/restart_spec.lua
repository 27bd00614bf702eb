-- The restarts of a server that exits (lua/tactful/client.lua), with a "server" that kills
-- itself at once and a short backoff; run headless by tests/test_nvim_e2e.py:
--   nvim --headless --clean --cmd 'set rtp^=editors/nvim' -c 'luafile editors/nvim/tests/restart_spec.lua'
-- with $TACTFUL_RESTART_FILE naming a file to open. Prints "N passed, M failed".
local client = require('tactful.client')
local tactful = require('tactful')

local spec = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/check.lua')
local check = spec.check

local notified = {}
vim.notify = function(msg, level)
  table.insert(notified, { msg = msg, level = level })
end

client.first_restart_ms = 20 -- 20, 40, 80, 160, 320 ms instead of 1 to 16 s
local seen = {}
vim.api.nvim_create_autocmd('User', {
  pattern = 'TactfulStatus',
  callback = function()
    local s = tactful.status()
    if seen[#seen] ~= s.detail then
      table.insert(seen, s.detail)
    end
  end,
})
tactful.setup({ cmd = { 'sh', '-c', 'kill -9 $$' } })
vim.cmd('edit ' .. vim.fn.fnameescape(vim.env.TACTFUL_RESTART_FILE))

local done = vim.wait(10000, function()
  local s = tactful.status()
  return s.state == 'stopped' and #s.restarts == 5
end, 20)
local s = tactful.status()
check('gave up after 5 restarts', done, s)
check('the reason', s.detail:match('signal 9') and s.detail:match('restarted 5 times in 180 s, not again'), s.detail)
local delays = {}
for _, detail in ipairs(seen) do
  local n, delay = detail:match('restart (%d) of 5 in ([%d.]+) s')
  if n then
    delays[tonumber(n)] = tonumber(delay)
  end
end
check('backoff doubles', vim.deep_equal(delays, { 0.02, 0.04, 0.08, 0.16, 0.32 }), seen)
vim.cmd('doautocmd BufEnter') -- a buffer entered does not start it again either
vim.wait(500) -- no sixth start, no second message
local ours = vim.tbl_filter(function(n)
  return n.msg:match('^Tactful: ') ~= nil -- not Neovim's own "Client N quit ..."
end, notified)
check('told once', #ours == 1 and ours[1].level == vim.log.levels.ERROR
  and ours[1].msg:match('not again'), notified)
check('still 5', #tactful.status().restarts == 5 and tactful.status().state == 'stopped', tactful.status())
check('no client left', #client.clients() == 0, client.clients())
local shown = vim.fn.execute('TactfulStatus')
check(':TactfulStatus lists them', shown:match('restart 1 at [%d:]+: the server exited %(code %d+, signal 9%)')
  and shown:match('restart 5 at '), shown)

-- :TactfulEnable tries again, with a fresh count.
vim.cmd('TactfulEnable')
check(':TactfulEnable starts it again', vim.wait(5000, function()
  return #tactful.status().restarts >= 6
end, 20), tactful.status())

spec.finish()
