-- Drives a real Neovim through Tactful scenarios as a user would: keys go through
-- nvim_input (handled by the main loop like real typing, so autocmds and keymaps fire),
-- the driver waits for the ghost text, presses the plugin's keys, and writes what happened
-- as JSON for tests/test_nvim_e2e.py. Run as nvim --headless -u init.lua -c 'luafile THIS'
-- with $TACTFUL_DRIVER_SPEC naming a JSON file:
--   { result = path, timeout_ms, ready_timeout_ms, suggestion_timeout_ms, keystroke_ms,
--     keys = { accept, accept_word, accept_line, dismiss, trigger },
--     scenarios = { { name, file, lines = { candidates, 1-based }, replacement (nil: the
--       line's indentation), typed, trigger = 'auto'|'invoked',
--       actions = { 'type_through'|'word'|'line'|'all'|'dismiss' } } },
--     restart_scenario = nil | a scenario run again after the server was killed }
-- Each scenario takes the first candidate line where the server suggests something: the
-- line is cut (in the buffer) to its indentation or replaced, typing starts at its end.
local spec = vim.fn.json_decode(table.concat(vim.fn.readfile(vim.env.TACTFUL_DRIVER_SPEC), '\n'))
local feedback = require('tactful.feedback')
local ghost = require('tactful.ghost')
local suggestion = require('tactful.suggestion')
local tactful = require('tactful')

local api = vim.api
local report = { scenarios = {} }
local finished = false

local function finish()
  if finished then
    return
  end
  finished = true
  report.feedback = feedback.recent
  report.stats = suggestion.stats
  report.status = tactful.status()
  vim.fn.writefile({ vim.fn.json_encode(report) }, spec.result)
  vim.cmd('qa!')
end

-- The scenarios run in a coroutine; sleeping hands control back to the main loop, where
-- the typed keys, the timers and the server's messages are processed.
local co
local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    report.error = debug.traceback(co, tostring(err))
    finish()
  elseif coroutine.status(co) == 'dead' then
    finish()
  end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

local function wait_until(what, timeout_ms, condition)
  local deadline = vim.loop.now() + timeout_ms
  while true do
    local value = condition()
    if value then
      return value
    end
    if vim.loop.now() > deadline then
      error(('timed out after %d ms waiting for %s'):format(timeout_ms, what), 0)
    end
    sleep(25)
  end
end

local function type_text(s)
  for _, ch in ipairs(vim.fn.split(s, '\\zs')) do
    api.nvim_input(ch == '<' and '<lt>' or ch)
    sleep(spec.keystroke_ms)
  end
end

local function buffer_text(bufnr)
  return table.concat(api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
end

local function snapshot(bufnr, into)
  local c = tactful.current()
  into.id = c and c.id or vim.NIL
  into.remaining = c and c.remaining or vim.NIL
  into.ghost = ghost.shown_text(bufnr)
  into.requests = suggestion.stats.requests
  into.buffer = buffer_text(bufnr)
  into.mode = api.nvim_get_mode().mode
  return into
end

local function wait_ready()
  wait_until('the server to be ready', spec.ready_timeout_ms, function()
    local status = tactful.status()
    if status.state == 'error' or status.state == 'stopped' or status.state == 'not found' then
      error(('the server is %s: %s'):format(status.state, status.detail), 0)
    end
    return status.state == 'ready'
  end)
end

--- Cut `line`, type, ask; the suggestion shown, or nil when the server answered nothing.
local function attempt(scenario, line, r)
  vim.cmd('edit! ' .. vim.fn.fnameescape(scenario.file)) -- the file as on disk
  local bufnr = api.nvim_get_current_buf()
  wait_ready()
  local old = api.nvim_buf_get_lines(bufnr, line - 1, line, true)[1]
  local replacement = scenario.replacement ~= vim.NIL and scenario.replacement or nil
  local new = replacement or old:match('^%s*')
  api.nvim_buf_set_lines(bufnr, line - 1, line, true, { new })
  r.line, r.before = line, buffer_text(bufnr)
  api.nvim_win_set_cursor(0, { line, 0 })
  api.nvim_input('A')
  sleep(spec.keystroke_ms)
  type_text(scenario.typed)
  if scenario.trigger == 'invoked' then
    api.nvim_input(spec.keys.trigger)
  end
  sleep(200) -- past the debounce: the last request is out
  local shown = wait_until('an answer', spec.suggestion_timeout_ms, function()
    local c = tactful.current()
    if c and ghost.shown_text(bufnr) ~= '' then
      return c
    end
    return not suggestion.busy() and 'nothing'
  end)
  if shown == 'nothing' then
    api.nvim_input('<Esc>')
    sleep(100)
    return nil
  end
  return shown
end

local function run(scenario)
  local r = { name = scenario.name, steps = {}, tried = {} }
  table.insert(report.scenarios, r)
  local shown
  for _, line in ipairs(scenario.lines) do
    table.insert(r.tried, line)
    shown = attempt(scenario, line, r)
    if shown then
      break
    end
  end
  if not shown then
    error(('%s: no suggestion at any of lines %s (reasons in the server log)'):format(
      scenario.name, table.concat(scenario.lines, ', ')), 0)
  end
  local bufnr = api.nvim_get_current_buf()
  r.id, r.suggestion = shown.id, shown.text
  snapshot(bufnr, r)
  local keys = { word = spec.keys.accept_word, line = spec.keys.accept_line, all = spec.keys.accept, dismiss = spec.keys.dismiss }
  for _, action in ipairs(scenario.actions) do
    local step = { action = action }
    if action == 'type_through' then
      step.typed = vim.fn.strcharpart(tactful.current().remaining, 0, 1)
      type_text(step.typed)
      sleep(300) -- past the debounce: a request would be out by now
    else
      api.nvim_input(keys[action])
      sleep(100)
    end
    table.insert(r.steps, snapshot(bufnr, step))
    if step.id ~= r.id then
      break -- accepted to its end or dismissed: later keys would act on a new suggestion
    end
  end
  wait_until('the answers to the accepts', spec.suggestion_timeout_ms, function()
    for _, event in ipairs(feedback.recent) do
      if event.pending then
        return false
      end
    end
    return true
  end)
  api.nvim_input('<Esc>')
  sleep(100)
end

--- The lines of the window a command opens (:TactfulExplain, :checkhealth), then closes it.
local function window_lines(command, what)
  local before = api.nvim_get_current_win()
  vim.cmd(command)
  local win = wait_until(what, spec.suggestion_timeout_ms, function()
    local w = api.nvim_get_current_win()
    return w ~= before and api.nvim_buf_line_count(api.nvim_win_get_buf(w)) > 1 and w
  end)
  sleep(200) -- :checkhealth fills its buffer section by section
  local lines = api.nvim_buf_get_lines(api.nvim_win_get_buf(win), 0, -1, false)
  vim.cmd('close')
  return lines
end

--- The server's process id: client.rpc.pid (0.7 to 0.9), else Neovim's child running `serve`.
local function server_pid()
  local c = require('tactful.client').clients()[1]
  if c and c.rpc and c.rpc.pid then
    return c.rpc.pid
  end
  for _, pid in ipairs(vim.fn.systemlist({ 'pgrep', '-P', tostring(vim.fn.getpid()), '-f', 'serve' })) do
    return tonumber(pid)
  end
  return nil
end

--- Kill the server (SIGKILL, as a crash would), wait for the plugin to start it again, and
--- run `scenario` once more: the ghost text must come back from the new server.
local function restart(scenario)
  local r = { killed = server_pid() }
  report.restart = r
  if not r.killed then
    error('no server process to kill', 0)
  end
  vim.loop.kill(r.killed, 'sigkill')
  wait_until('the plugin to notice the exit', spec.ready_timeout_ms, function()
    return #tactful.status().restarts > 0
  end)
  r.status_after_exit = tactful.status()
  wait_ready()
  r.new_pid = server_pid()
  run(scenario)
  r.scenario = report.scenarios[#report.scenarios]
  r.status_lines = vim.split(vim.fn.execute('TactfulStatus'), '\n', { trimempty = true })
  r.health = window_lines('checkhealth tactful', ':checkhealth tactful')
end

co = coroutine.create(function()
  for _, scenario in ipairs(spec.scenarios) do
    run(scenario)
  end
  report.explain = window_lines('TactfulExplain', ':TactfulExplain')
  report.health = window_lines('checkhealth tactful', ':checkhealth tactful')
  if spec.restart_scenario ~= vim.NIL and spec.restart_scenario then
    restart(spec.restart_scenario)
  end
end)
vim.defer_fn(function()
  report.error = ('the driver ran past %d ms'):format(spec.timeout_ms)
  finish()
end, spec.timeout_ms)
resume()
