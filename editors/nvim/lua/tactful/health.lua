--- :checkhealth tactful
local client = require('tactful.client')
local config = require('tactful.config')
local status = require('tactful.status')

local M = {}

-- 0.7 has require('health').report_*; 0.8 added vim.health, 0.9 the short names.
local health = vim.health or require('health')
local start = health.start or health.report_start
local ok = health.ok or health.report_ok
local info = health.info or health.report_info
local warn = health.warn or health.report_warn
local fail = health.error or health.report_error

local DEFAULT_MODEL = 'smollm2-135m' -- the server's default (models/registry.py)

local function run(args)
  local out = vim.fn.system(args)
  return vim.v.shell_error == 0, vim.trim(out)
end

local function check_neovim()
  start('Neovim')
  if vim.fn.has('nvim-0.7') == 0 then
    fail('Neovim 0.7 or newer is needed')
    return
  end
  local v = vim.version()
  local drawing = vim.fn.has('nvim-0.10') == 1 and 'inline virtual text' or 'overlaid virtual text (no inline text before 0.10)'
  if config.options.builtin and vim.lsp.inline_completion then
    drawing = 'vim.lsp.inline_completion (builtin = true: no shown/partial/dismiss feedback)'
  end
  ok(('Neovim %d.%d.%d; ghost text as %s'):format(v.major, v.minor, v.patch, drawing))
  if not vim.g.tactful_setup_done then
    warn("require('tactful').setup() has not run: no buffer is served")
  end
end

--- Returns the tactful executable to run CLI checks with, or nil.
local function check_executable()
  start('Server')
  local cmd = config.options.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    fail(('cmd[1] = %q is not an executable'):format(cmd[1]), {
      'Install Tactful (pip install -e . in the repository) or give its path:',
      "require('tactful').setup({ cmd = { '/path/to/.venv/bin/tactful', 'serve' } })",
    })
    return nil
  end
  local exe = vim.fn.exepath(cmd[1])
  if not vim.fn.fnamemodify(cmd[1], ':t'):match('^tactful') then
    info(('cmd runs %s, not tactful itself: the checks of the CLI are skipped'):format(exe))
    return nil
  end
  local works, version = run({ exe, '--version' })
  if works then
    ok(('%s (%s)'):format(exe, version))
    return exe
  end
  fail(('%s --version failed: %s'):format(exe, version))
  return nil
end

local function check_model(exe)
  local model = config.options.settings.model or DEFAULT_MODEL
  if model:match('%.gguf$') and not model:match('^hf:') then
    if vim.fn.filereadable(vim.fn.expand(model)) == 1 then
      ok('model file ' .. model)
    else
      fail('model file not found: ' .. model)
    end
    return
  end
  if not exe then
    return
  end
  local works, out = run({ exe, 'models', 'list' })
  if not works then
    fail('tactful models list failed: ' .. out)
    return
  end
  local dir = out:match('model directory: ([^\n]+)') or '?'
  local mark = out:match('\n%s+' .. vim.pesc(model) .. '%s+(%S+)')
  if mark == 'installed' then
    ok(('model %s is installed (in %s)'):format(model, dir))
  elseif mark then
    fail(('model %s is not installed'):format(model), { 'Run: tactful models pull ' .. model })
  else
    warn(('model %q is not one tactful models list knows; the server reports whether it loads'):format(model))
  end
end

--- The first-run probe's verdict: which llama.cpp configuration runs right on this machine.
local function check_probe(exe)
  if not exe then
    return
  end
  local model = config.options.settings.model or DEFAULT_MODEL
  -- doctor exits 1 when it found a problem; its JSON report says which.
  local out = vim.fn.system({ exe, 'doctor', '--json', '--model', model })
  local decoded, report = pcall(vim.fn.json_decode, out)
  if not decoded or type(report) ~= 'table' or not report.probe then
    warn('tactful doctor gave no report: ' .. vim.trim(out):sub(1, 200))
    return
  end
  local probe = report.probe
  if probe.error then
    fail('first-run probe: ' .. probe.error)
  elseif probe.config == 'fast' then
    ok(('first-run probe: fast configuration (%s)'):format(probe.reason))
  else
    warn(('first-run probe: safe configuration (%s)'):format(probe.reason),
      { 'Nothing to do: Tactful runs llama.cpp without its extra buffer types here' })
  end
  for _, problem in ipairs(report.problems or {}) do
    if not problem.fix:match('^none needed') then
      fail(problem.problem, { problem.fix })
    end
  end
end

--- The index file of a workspace, named as the server names it (context/index.py).
local function index_path(root)
  local base = vim.env.TACTFUL_INDEX_DIR
  if not base or base == '' then
    local cache = vim.env.XDG_CACHE_HOME
    base = ((cache and cache ~= '') and cache or (vim.loop.os_homedir() .. '/.cache')) .. '/tactful/index'
  end
  local real = vim.loop.fs_realpath(root) or root
  return ('%s/%s-%s/index.db'):format(base, vim.fn.fnamemodify(real, ':t'), vim.fn.sha256(real):sub(1, 16)), base
end

local function check_index()
  start('Workspace index')
  if config.options.settings.indexEnabled == false then
    info('indexEnabled = false: completions use the open file only')
    return
  end
  -- The running clients' workspaces: :checkhealth's own buffer belongs to none.
  local roots = {}
  for _, c in ipairs(client.clients()) do
    roots[c.config.root_dir] = true
  end
  if next(roots) == nil then
    info('no workspace is served yet: open a file, then check again')
    return
  end
  for root in pairs(roots) do
    local path, base = index_path(root)
    local stat = vim.loop.fs_stat(path)
    if stat then
      ok(('workspace %s: index %s (%.1f MB)'):format(root, path, stat.size / 1e6))
    else
      info(('workspace %s: no index yet in %s; the server builds it in the background'):format(root, base))
    end
  end
end

local function check_client()
  start('Client')
  local s = status.get()
  local detail = s.detail ~= '' and (': ' .. s.detail) or ''
  if not config.options.enabled then
    warn('suggestions are off (:TactfulEnable)')
  elseif s.state == 'ready' then
    ok('server ready' .. detail)
  elseif s.state == 'loading' or s.state == 'starting' or s.state == 'off' or s.state == 'restarting' then
    info('server ' .. s.state .. detail)
  else
    fail('server ' .. s.state .. detail, { 'See :TactfulLog' })
  end
  for i, r in ipairs(s.restarts) do
    warn(('server restart %d at %s: %s'):format(i, r.at, r.why), { 'See :TactfulLog' })
  end
  for _, c in ipairs(client.clients()) do
    info(('client %d for %s'):format(c.id, c.config.root_dir))
  end
  info('LSP log (the server writes its stderr there): ' .. vim.lsp.get_log_path())
end

function M.check()
  check_neovim()
  local exe = check_executable()
  check_model(exe)
  check_probe(exe)
  check_index()
  check_client()
end

return M
