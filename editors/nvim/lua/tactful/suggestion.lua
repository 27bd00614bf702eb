--- The suggestion at the cursor: asked for when typing pauses (or on demand), drawn as ghost
--- text, kept while the user types what it says, accepted whole, by word or by line.
local client = require('tactful.client')
local config = require('tactful.config')
local feedback = require('tactful.feedback')
local ghost = require('tactful.ghost')
local text = require('tactful.text')
local lsp_log = require('vim.lsp.log')

local api = vim.api

local M = {}

-- LSP 3.18 InlineCompletionTriggerKind.
M.INVOKED, M.AUTOMATIC = 1, 2

--- Off while :TactfulDisable is in force.
M.enabled = true

--- Counters for :TactfulStatus and tests.
M.stats = { requests = 0, cancelled = 0, stale = 0, empty = 0, shown = 0, failed = 0 }
-- The reason of the last failed request: a model that cannot serve fails every keystroke's
-- request alike (LSP's RequestFailed, with the status's words), so it is logged once.
M.last_failure = nil

-- The suggestion on screen, at most one: { bufnr, client, id, command, text (the whole
-- insertText), row, col (0-based; col in bytes: where the text starts), shown }.
local current = nil
-- The request in flight: { client, request_id }.
local pending = nil
-- Bumped by every request and every edit or move: an answer to an older one is stale.
local generation = 0
local timer = vim.loop.new_timer()
-- bufnr -> { tick, row, col } as on_change last saw them.
local last_seen = {}
local group = api.nvim_create_augroup('tactful_suggestion', { clear = true })

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

--- The buffer text from the suggestion's start to the cursor; nil if the cursor is before it.
local function typed_since_start(s)
  local row, col = cursor()
  if api.nvim_get_current_buf() ~= s.bufnr or row < s.row or (row == s.row and col < s.col) then
    return nil
  end
  local lines = api.nvim_buf_get_lines(s.bufnr, s.row, row + 1, false)
  if #lines ~= row - s.row + 1 then
    return nil
  end
  lines[#lines] = lines[#lines]:sub(1, col) -- the end first: on one line both cuts apply
  lines[1] = lines[1]:sub(s.col + 1)
  return table.concat(lines, '\n')
end

--- What is left to insert (nil if the buffer no longer agrees with the suggestion), and how
--- many bytes of it the buffer already holds.
local function remaining(s)
  local typed = typed_since_start(s)
  local done = typed and text.prefix_len(s.text, typed)
  if not done then
    return nil
  end
  return s.text:sub(done + 1), done
end

local function clear()
  if current then
    ghost.clear(current.bufnr)
  end
  current = nil
end

local function cancel_pending()
  timer:stop()
  if pending then
    -- $/cancelRequest: the server stops the model at its next token.
    client.cancel(pending.client, pending.request_id)
    M.stats.cancelled = M.stats.cancelled + 1
    pending = nil
  end
end

--- Draw what is left of `s`; false (and nothing drawn) when nothing is left of it.
local function render(s)
  local rest = remaining(s)
  if not rest or rest == '' then
    clear()
    return false
  end
  local row, col = cursor()
  ghost.show(s.bufnr, row, col, rest)
  if not s.shown then
    s.shown = true
    M.stats.shown = M.stats.shown + 1
    feedback.shown(s.client, s)
  end
  return true
end

local function first_item(result)
  if type(result) ~= 'table' then -- null (vim.NIL) or nothing
    return nil
  end
  for _, item in ipairs(result.items or result) do
    if type(item.insertText) == 'string' and item.insertText ~= '' then -- no snippets
      return item
    end
  end
  return nil
end

--- Ask the server for a suggestion at the cursor; `kind` is M.AUTOMATIC or M.INVOKED.
function M.request(kind)
  local bufnr = api.nvim_get_current_buf()
  local c = client.get(bufnr)
  if not c or not M.enabled then
    return
  end
  cancel_pending()
  generation = generation + 1
  local mine = generation
  local row, col = cursor()
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = text.utf16_len(line:sub(1, col)) },
    context = { triggerKind = kind },
  }
  M.stats.requests = M.stats.requests + 1
  local ok, request_id = client.request(c, 'textDocument/inlineCompletion', params, function(err, result)
    if mine ~= generation then
      return -- cancelled, or overtaken by a keystroke or a newer request
    end
    pending = nil
    if err then
      M.stats.failed = M.stats.failed + 1
      local reason = err.message or vim.inspect(err)
      if reason ~= M.last_failure then
        M.last_failure = reason
        lsp_log.warn('tactful: inlineCompletion failed: ' .. reason)
      end
      return -- :TactfulStatus says why; nothing pops up
    end
    M.last_failure = nil
    local r, cc = cursor()
    if api.nvim_get_current_buf() ~= bufnr or api.nvim_buf_get_changedtick(bufnr) ~= tick
      or r ~= row or cc ~= col or not in_insert_mode() or vim.fn.pumvisible() == 1 then
      M.stats.stale = M.stats.stale + 1
      return
    end
    local item = first_item(result)
    if not item then
      M.stats.empty = M.stats.empty + 1
      return
    end
    -- The server's range starts at the cursor; read it anyway, in bytes.
    local start_row, start_col = row, col
    if type(item.range) == 'table' and item.range.start.line == row then
      start_col = text.byte_of_utf16(line, item.range.start.character)
    end
    clear()
    current = {
      bufnr = bufnr,
      client = c,
      id = feedback.id_of(item.command),
      command = item.command,
      text = item.insertText,
      row = start_row,
      col = start_col,
      shown = false,
    }
    render(current)
  end, bufnr)
  if ok then
    pending = { client = c, request_id = request_id }
  end
end

--- TextChangedI / CursorMovedI. Typing what the suggestion says keeps it (no new request);
--- anything else hides it and, after an edit, asks again once typing pauses.
function M.on_change(bufnr)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local row, col = cursor()
  local seen = last_seen[bufnr] or {}
  last_seen[bufnr] = { tick = tick, row = row, col = col }
  local edited = tick ~= seen.tick
  if not edited and row == seen.row and col == seen.col then
    return -- the twin event of the same keystroke
  end
  -- Only an edit can type through: a bare move (even back inside the typed part) hides it.
  if edited and current and current.bufnr == bufnr and render(current) then
    return
  end
  clear()
  -- Whatever is in flight answers for a place the user has left: stop it now.
  cancel_pending()
  generation = generation + 1
  if edited and M.enabled and config.options.auto_trigger then
    timer:start(config.options.debounce_ms, 0, vim.schedule_wrap(function()
      if in_insert_mode() and api.nvim_get_current_buf() == bufnr then
        M.request(M.AUTOMATIC)
      end
    end))
  end
end

--- Stop asking and hide what is shown (BufLeave, :TactfulDisable), without feedback.
function M.reset()
  cancel_pending()
  generation = generation + 1
  clear()
end

--- The suggestion on screen in the current buffer, if the buffer still agrees with it.
local function visible()
  if current and current.bufnr == api.nvim_get_current_buf() and remaining(current) then
    return current
  end
  return nil
end

local function insert_at_cursor(bufnr, part)
  local row, col = cursor()
  local lines = text.lines(part)
  api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  local end_col = #lines == 1 and col + #part or #lines[#lines]
  api.nvim_win_set_cursor(0, { row + #lines, end_col })
end

--- Insert all that is left and tell the server. False when nothing is shown.
function M.accept()
  local s = visible()
  if not s then
    return false
  end
  local rest = remaining(s)
  clear() -- first: the edit below then reads as a new place to suggest at
  insert_at_cursor(s.bufnr, rest)
  feedback.accepted(s.client, s, s.bufnr)
  return true
end

local function accept_part(next_part)
  local s = visible()
  if not s then
    return false
  end
  local rest, done = remaining(s)
  local part = next_part(rest)
  insert_at_cursor(s.bufnr, part)
  done = done + #part
  feedback.partially_accepted(s.client, s, text.utf16_len(s.text:sub(1, done)))
  if done >= #s.text then -- the last part: that is a full accept too
    clear()
    feedback.accepted(s.client, s, s.bufnr)
  else
    render(s)
  end
  return true
end

function M.accept_word()
  return accept_part(text.next_word)
end

function M.accept_line()
  return accept_part(text.next_line)
end

--- Hide the suggestion and tell the server it was rejected. False when nothing is shown.
function M.dismiss()
  local s = visible()
  if not s then
    return false
  end
  clear()
  feedback.dismissed(s.client, s)
  return true
end

--- Ask now, as an invoked request (the server then answers even mid-word).
function M.trigger()
  if not M.enabled or not client.get(api.nvim_get_current_buf()) then
    return false
  end
  clear()
  M.request(M.INVOKED)
  return true
end

--- Leaving insert mode over a suggestion is Neovim's Esc: an explicit dismissal.
local function on_insert_leave()
  local s = current
  M.reset()
  if s and s.shown then
    feedback.dismissed(s.client, s)
  end
end

--- Watch a buffer's edits and moves (once per buffer; again is harmless).
function M.attach(bufnr)
  api.nvim_clear_autocmds({ group = group, buffer = bufnr })
  api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.on_change(bufnr)
    end,
  })
  api.nvim_create_autocmd('InsertLeave', { group = group, buffer = bufnr, callback = on_insert_leave })
  api.nvim_create_autocmd('BufLeave', { group = group, buffer = bufnr, callback = M.reset })
end

--- Whether a request is waiting for its debounce or for its answer.
function M.busy()
  return timer:is_active() or pending ~= nil
end

--- The suggestion on screen: { id, text, remaining, row, col } or nil.
function M.current()
  local s = visible()
  if not s then
    return nil
  end
  return { id = s.id, text = s.text, remaining = (remaining(s)), row = s.row, col = s.col }
end

return M
