--- What the server last said about itself (tactful/status and $/progress), for statuslines.
---
--- States: 'starting' (process launched), then the server's own 'loading', 'ready', 'error',
--- 'disabled'; 'restarting' when the process exited and is started again (client.lua),
--- 'stopped' when it exited for good, 'not found' when cmd cannot be run.
local M = {}

local current = { state = 'off', detail = 'no buffer attached yet', progress = nil, restarts = {} }

--- Count a restart of the server; `why` says how it exited. Kept for :TactfulStatus.
function M.restarted(why)
  table.insert(current.restarts, { at = os.date('%H:%M:%S'), why = why })
end

--- Fire `User TactfulStatus` (statuslines redraw on it: autocmd User TactfulStatus redrawstatus).
function M.changed()
  vim.schedule(function()
    vim.api.nvim_exec_autocmds('User', { pattern = 'TactfulStatus', modeline = false })
  end)
end

function M.set(state, detail)
  current.state = state
  current.detail = detail or ''
  if state ~= 'ready' and state ~= 'loading' then
    current.progress = nil
  end
  M.changed()
end

--- A `$/progress` value ({kind = 'begin'|'report'|'end', title, message, percentage}).
function M.progress(value)
  if type(value) ~= 'table' then
    return
  end
  if value.kind == 'end' then
    current.progress = nil
  else
    local previous = current.progress or {}
    current.progress = {
      title = value.title or previous.title or '',
      message = value.message or previous.message,
      percentage = value.percentage or previous.percentage,
    }
  end
  M.changed()
end

--- A copy: { state, detail, progress = nil | { title, message, percentage },
--- restarts = { { at = 'HH:MM:SS', why }, ... } }.
function M.get()
  return vim.deepcopy(current)
end

--- A short text for a statusline: "Tactful: ready", "Tactful: indexing 40%", ...
function M.line()
  local p = current.progress
  if p and p.title ~= '' then
    local title = p.title:gsub('^Tactful: ', '')
    return 'Tactful: ' .. title .. (p.percentage and (' ' .. p.percentage .. '%') or '')
  end
  return 'Tactful: ' .. current.state
end

return M
