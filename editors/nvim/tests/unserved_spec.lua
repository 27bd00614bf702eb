-- A server whose model cannot load (lua/tactful/suggestion.lua): every request fails with
-- the status's words, which the plugin logs once and never pops up. Run headless by
-- tests/test_nvim_e2e.py, with $TACTFUL_SERVER_CMD (JSON) the server's command and
-- $TACTFUL_UNSERVED_FILE a file to open. Prints "N passed, M failed".
local suggestion = require('tactful.suggestion')
local tactful = require('tactful')

local spec = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/check.lua')
local check = spec.check

local popups = {}
vim.lsp.handlers['window/showMessage'] = function(_, result)
  table.insert(popups, result.message)
end
local notified = {}
vim.notify = function(msg, level)
  table.insert(notified, { msg = msg, level = level })
end

tactful.setup({
  cmd = vim.fn.json_decode(vim.env.TACTFUL_SERVER_CMD),
  settings = { model = '/nonexistent/model.gguf' },
})
vim.cmd('edit ' .. vim.fn.fnameescape(vim.env.TACTFUL_UNSERVED_FILE))

local errored = vim.wait(60000, function()
  return tactful.status().state == 'error'
end, 20)
local detail = tactful.status().detail
check('error status', errored and detail:match('model file not found') and detail:match('tactful models list'),
  tactful.status())

for n = 1, 3 do
  suggestion.request(suggestion.INVOKED)
  check('request ' .. n .. ' failed', vim.wait(10000, function()
    return suggestion.stats.failed == n
  end, 20), suggestion.stats)
end
check('told why, in the status\'s words', suggestion.last_failure == detail, suggestion.last_failure)
check('nothing on screen', suggestion.current() == nil, suggestion.current())

local log = table.concat(vim.fn.readfile(vim.lsp.get_log_path()), '\n')
local _, logged = log:gsub('inlineCompletion failed', '')
check('logged once', logged == 1, log)
-- The server's stderr, which Neovim logs: the status's error once, and no traceback.
check('no traceback from the server', not log:find('Traceback', 1, true), log)
local about_model = vim.tbl_filter(function(m)
  return m:match('model file not found') ~= nil
end, popups)
check('one pop-up, from the server', #about_model == 1, popups)
check('no notification of ours', #notified == 0, notified)
local shown = vim.fn.execute('TactfulStatus')
check(':TactfulStatus says why', shown:find(detail, 1, true) ~= nil, shown)

vim.lsp.stop_client(vim.lsp.get_active_clients())
spec.finish()
