--- The LSP client of `tactful serve`: one per workspace root, started with Neovim's
--- built-in client (vim.lsp.start from 0.8; start_client + buf_attach_client on 0.7), started
--- again when it exits (with backoff, as VS Code's client does), and
--- the few client calls whose spelling changed between Neovim versions.
local config = require('tactful.config')
local status = require('tactful.status')

local M = {}

M.name = 'tactful'

-- 0.11 made client methods take self (client:request(...)); the old client.request(...)
-- form warns there and goes away in 0.13, and before 0.11 it is the only form.
local methods_take_self = vim.fn.has('nvim-0.11') == 1

local function call(client, method, ...)
  if methods_take_self then
    return client[method](client, ...)
  end
  return client[method](...)
end

--- Returns ok, request_id like client.request.
function M.request(client, method, params, handler, bufnr)
  return call(client, 'request', method, params, handler, bufnr)
end

function M.notify(client, method, params)
  return call(client, 'notify', method, params)
end

function M.cancel(client, request_id)
  return call(client, 'cancel_request', request_id)
end

function M.is_stopped(client)
  return call(client, 'is_stopped')
end

--- The `tactful` section as the server reads it. An empty Lua table would be encoded as
--- [] and rejected ("settings must be an object"), hence vim.empty_dict().
function M.settings_payload(settings)
  return { tactful = next(settings) and settings or vim.empty_dict() }
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  -- The server counts columns in UTF-16 code units (context/positions.py). Neovim 0.10+ lists
  -- utf-8 first and pygls would take it, so offer only what the server really speaks.
  caps.general = caps.general or {}
  caps.general.positionEncodings = { 'utf-16' }
  -- The server reports indexing with $/progress only to clients that say they show it.
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = { dynamicRegistration = false }
  return caps
end

local handlers = {
  ['tactful/status'] = function(_, result)
    if type(result) == 'table' then
      status.set(result.state or 'unknown', result.detail)
    end
  end,
  ['$/progress'] = function(err, result, ctx, cfg)
    status.progress(result and result.value)
    -- Keep Neovim's own bookkeeping (vim.lsp.status(), LspProgress, fidget.nvim...).
    local default = vim.lsp.handlers['$/progress']
    if default then
      return default(err, result, ctx, cfg)
    end
  end,
}

--- The workspace of a buffer: the nearest parent folder with a root marker, else the file's
--- own folder. The server indexes it, so never fall back to the cwd (it may be $HOME).
function M.root_dir(bufnr)
  local dir = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':p:h')
  local current = dir
  while true do
    for _, marker in ipairs(config.options.root_markers) do
      if vim.loop.fs_stat(current .. '/' .. marker) then
        return current
      end
    end
    local parent = vim.fn.fnamemodify(current, ':h')
    if parent == current then
      return dir
    end
    current = parent
  end
end

local by_root = {} -- root -> client id, for 0.7, which has no vim.lsp.start to reuse clients
local warned_missing = false

local function client_config(root)
  local opts = config.options
  return {
    name = M.name,
    cmd = opts.cmd,
    root_dir = root,
    init_options = M.settings_payload(opts.settings),
    capabilities = capabilities(),
    offset_encoding = 'utf-16',
    handlers = handlers,
    on_exit = function(code, signal, client_id)
      if by_root[root] == client_id then
        by_root[root] = nil
      end
      -- A libuv callback: the restart (and its API calls) waits for the main loop.
      vim.schedule(function()
        M.on_exit(root, code, signal)
      end)
    end,
  }
end

-- Restarts, as VS Code's client does: after 1, 2, 4, 8, 16 s, at most 5 in 3 minutes.
M.max_restarts = 5
M.restart_window_s = 180
M.first_restart_ms = 1000 -- doubled for each restart in the window (tests shorten it)
local restarts = {} -- root -> { os.time() of each restart }
local buffers = {} -- root -> { [bufnr] = true }: re-attached after a restart
local given_up = {} -- root -> true: not started again until :TactfulEnable (M.retry)
local told = false -- the give-up message is shown once
local leaving = false

vim.api.nvim_create_autocmd('VimLeavePre', {
  group = vim.api.nvim_create_augroup('tactful_client', { clear = true }),
  callback = function()
    leaving = true
  end,
})

--- The server of `root` exited: start it again after a backoff, unless it was asked to
--- stop (exit code 0, no signal: shutdown and exit) or Neovim is quitting.
function M.on_exit(root, code, signal)
  local why = ('the server exited (code %s, signal %s)'):format(code, signal)
  if leaving or vim.v.exiting ~= vim.NIL or (code == 0 and signal == 0) then
    status.set('stopped', why .. '; see :TactfulLog')
    return
  end
  local now = os.time()
  local recent = {}
  for _, at in ipairs(restarts[root] or {}) do
    if now - at < M.restart_window_s then
      table.insert(recent, at)
    end
  end
  restarts[root] = recent
  if #recent >= M.max_restarts then
    local detail = ('%s; restarted %d times in %d s, not again: see :TactfulLog'):format(
      why, #recent, M.restart_window_s)
    given_up[root] = true
    status.set('stopped', detail)
    if not told then
      told = true
      vim.notify('Tactful: ' .. detail .. ' (:TactfulEnable tries again)', vim.log.levels.ERROR)
    end
    return
  end
  local delay_ms = M.first_restart_ms * 2 ^ #recent
  table.insert(recent, now)
  status.restarted(why)
  status.set('restarting', ('%s; restart %d of %d in %g s'):format(why, #recent, M.max_restarts, delay_ms / 1000))
  vim.defer_fn(function()
    for bufnr in pairs(buffers[root] or {}) do
      if vim.api.nvim_buf_is_loaded(bufnr) then
        M.attach(bufnr)
      else
        buffers[root][bufnr] = nil
      end
    end
  end, delay_ms)
end

--- Start again the servers given up on (:TactfulEnable), with a fresh count of restarts.
function M.retry()
  given_up, restarts, told = {}, {}, false
end

--- Attach the workspace's client to `bufnr`, starting it if needed. Returns the client id,
--- or nil when the server cannot be started (the status says why).
function M.attach(bufnr)
  local cmd = config.options.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    status.set('not found', ('cannot run %q: set cmd in setup(), see :checkhealth tactful'):format(cmd[1]))
    if not warned_missing then -- once, not for every buffer opened
      warned_missing = true
      vim.notify('Tactful: ' .. status.get().detail, vim.log.levels.WARN)
    end
    return nil
  end
  local root = M.root_dir(bufnr)
  buffers[root] = buffers[root] or {}
  buffers[root][bufnr] = true
  if given_up[root] then -- it crashed too often: opening a file must not start it again
    return nil
  end
  local state = status.get().state
  if state == 'off' or state == 'stopped' or state == 'not found' or state == 'restarting' then
    status.set('starting', 'starting ' .. table.concat(cmd, ' '))
  end
  if vim.lsp.start then
    return vim.lsp.start(client_config(root), { bufnr = bufnr })
  end
  local id = by_root[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or M.is_stopped(client) then
    id = vim.lsp.start_client(client_config(root))
    by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- Tactful clients, all or those attached to `bufnr`.
function M.clients(bufnr)
  if vim.lsp.get_clients then -- 0.10+
    return vim.lsp.get_clients({ name = M.name, bufnr = bufnr })
  end
  local found = {}
  for _, client in ipairs(vim.lsp.get_active_clients()) do -- 0.7 takes no filter
    if client.name == M.name and (bufnr == nil or vim.lsp.buf_is_attached(bufnr, client.id)) then
      table.insert(found, client)
    end
  end
  return found
end

--- The initialized Tactful client of `bufnr`, if any.
function M.get(bufnr)
  for _, client in ipairs(M.clients(bufnr)) do
    if client.initialized and not M.is_stopped(client) then
      return client
    end
  end
  return nil
end

--- Send the server settings to every running client (workspace/didChangeConfiguration).
function M.send_settings(settings)
  for _, client in ipairs(M.clients()) do
    M.notify(client, 'workspace/didChangeConfiguration', { settings = M.settings_payload(settings) })
  end
end

return M
