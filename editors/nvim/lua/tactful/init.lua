--- Tactful for Neovim: inline suggestions from `tactful serve`, the local completion server.
---
---   require('tactful').setup({ cmd = { '/path/to/.venv/bin/tactful', 'serve' } })
---
--- See :help tactful. Modules: config (the defaults), client (the LSP client), suggestion
--- (requests, typing-through, accepts), ghost (the extmark), feedback (what the server is
--- told), status (for statuslines), text (UTF-16 and word/line cuts), keymaps, builtin
--- (Neovim 0.12's vim.lsp.inline_completion), health (:checkhealth tactful).
local builtin = require('tactful.builtin')
local client = require('tactful.client')
local config = require('tactful.config')
local feedback = require('tactful.feedback')
local keymaps = require('tactful.keymaps')
local status = require('tactful.status')
local suggestion = require('tactful.suggestion')

local api = vim.api

local M = {}

local function use_builtin()
  return config.options.builtin and builtin.available()
end

--- Only real files of wanted filetypes: the server indexes the workspace by path.
local function wanted(bufnr)
  if not api.nvim_buf_is_loaded(bufnr) or vim.bo[bufnr].buftype ~= '' or api.nvim_buf_get_name(bufnr) == '' then
    return false
  end
  local filetypes = config.options.filetypes
  local on = filetypes[vim.bo[bufnr].filetype]
  if on == nil then
    on = filetypes['*']
  end
  return on == true
end

local function actions()
  if use_builtin() then
    return { accept = builtin.accept }
  end
  return {
    accept = suggestion.accept,
    accept_word = suggestion.accept_word,
    accept_line = suggestion.accept_line,
    dismiss = suggestion.dismiss,
    trigger = suggestion.trigger,
  }
end

--- Serve `bufnr` (default: the current buffer): start or reuse the workspace's server,
--- watch the buffer, map the keys. Does nothing for buffers Tactful does not serve.
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  if not config.options.enabled or not wanted(bufnr) or #client.clients(bufnr) > 0 then
    return
  end
  if not client.attach(bufnr) then
    return
  end
  if use_builtin() then
    builtin.attach(bufnr)
  else
    suggestion.attach(bufnr)
  end
  keymaps.set(bufnr, config.options.keymaps, actions())
end

local function attach_all()
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    M.attach(bufnr)
  end
end

--- The server's settings as sent: the user's, with the plugin's on/off switch.
local function server_settings()
  return vim.tbl_extend('force', config.options.settings, { enabled = config.options.enabled })
end

function M.setup(user)
  config.options = config.merge(user)
  config.options.settings = server_settings()
  for _, name in ipairs(keymaps.unknown(config.options.keymaps)) do
    vim.notify(('tactful: unknown keymap %q (see :help tactful-keymaps)'):format(name), vim.log.levels.WARN)
  end
  suggestion.enabled = config.options.enabled
  vim.g.tactful_setup_done = true

  local group = api.nvim_create_augroup('tactful', { clear = true })
  local function highlight()
    vim.cmd('highlight default link TactfulSuggestion Comment')
  end
  highlight()
  api.nvim_create_autocmd('ColorScheme', { group = group, callback = highlight })
  api.nvim_create_autocmd({ 'FileType', 'BufEnter' }, {
    group = group,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  attach_all() -- buffers opened before setup() (a lazy-loaded plugin)
end

--- Turn suggestions on (and tell the server), serving the buffers already open; starts
--- again a server that was given up on after too many restarts.
function M.enable()
  client.retry()
  config.options.enabled = true
  config.options.settings.enabled = true
  suggestion.enabled = true
  client.send_settings(config.options.settings)
  attach_all()
  status.changed() -- statuslines: no longer "off"
end

--- Turn suggestions off; the server stays up (and is told), so :TactfulEnable is instant.
function M.disable()
  config.options.enabled = false
  config.options.settings.enabled = false
  suggestion.enabled = false
  suggestion.reset()
  client.send_settings(config.options.settings)
  status.changed()
end

function M.is_enabled()
  return config.options.enabled
end

--- Change server settings at run time, e.g. configure({ model = 'gemma3-270m' }).
function M.configure(settings)
  config.options.settings = vim.tbl_deep_extend('force', config.options.settings, settings)
  config.options.settings.enabled = config.options.enabled
  client.send_settings(config.options.settings)
end

--- { state, detail, progress, enabled, restarts }: the server's last tactful/status and
--- $/progress, and the restarts of a server that exited (client.lua).
function M.status()
  local s = status.get()
  s.enabled = config.options.enabled
  return s
end

--- A short text for a statusline; redraw on `User TactfulStatus`.
function M.statusline()
  return config.options.enabled and status.line() or 'Tactful: off'
end

--- The suggestion on screen: { id, text, remaining, row, col } or nil.
M.current = suggestion.current

M.accept = suggestion.accept
M.accept_word = suggestion.accept_word
M.accept_line = suggestion.accept_line
M.dismiss = suggestion.dismiss
M.trigger = suggestion.trigger

--- :TactfulStatus
function M.print_status()
  local s = M.status()
  local lines = {
    ('Tactful: %s%s'):format(s.enabled and s.state or 'off (:TactfulEnable)', s.detail ~= '' and (' - ' .. s.detail) or ''),
  }
  if s.progress then
    table.insert(lines, ('  %s %s%s'):format(s.progress.title, s.progress.message or '',
      s.progress.percentage and (' (' .. s.progress.percentage .. '%)') or ''))
  end
  for _, c in ipairs(client.clients()) do
    table.insert(lines, ('  client %d: %s, workspace %s'):format(c.id, table.concat(c.config.cmd, ' '), c.config.root_dir))
  end
  for i, r in ipairs(s.restarts) do
    table.insert(lines, ('  restart %d at %s: %s'):format(i, r.at, r.why))
  end
  local st = suggestion.stats
  table.insert(lines, ('  requests %d (cancelled %d, stale %d, empty %d), shown %d'):format(
    st.requests, st.cancelled, st.stale, st.empty, st.shown))
  for _, e in ipairs(feedback.recent) do
    table.insert(lines, ('  %s %s%s%s'):format(e.method, e.id,
      e.accepted_length and (' acceptedLength=' .. e.accepted_length) or '',
      e.error and (' error: ' .. e.error) or (e.pending and ' (no answer yet)' or '')))
  end
  print(table.concat(lines, '\n'))
end

--- :TactfulLog: Neovim's LSP log, where the server's stderr goes.
function M.open_log()
  vim.cmd('tabnew ' .. vim.fn.fnameescape(vim.lsp.get_log_path()))
end

return M
