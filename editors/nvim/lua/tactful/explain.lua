--- :TactfulExplain, "why no suggestion?": the server's last decisions for the current file
--- (the tactful/explain request, as the VS Code extension asks it), in a scratch buffer.
--- The request, rather than `tactful explain FILE`, because the running server also knows
--- the requests its log leaves out (mid-word, cancelled) and works whatever `cmd` is.
local client = require('tactful.client')
local config = require('tactful.config')

local M = {}

local LIMIT = 20

-- The server's reasons (completion/engine.py, rules.py, predictor/gate.py) in words.
local REASONS = {
  shown = 'shown',
  ['shown:exploration'] = 'shown, though the predictor would have hidden it (exploration)',
  typed_through = 'shown: you were typing the previous suggestion',
  mid_word = 'not asked: the cursor is in the middle of a word',
  text_after_cursor = 'not asked: more than closing brackets and quotes follow the cursor',
  cancelled = 'cancelled: you typed on before it was ready',
  ['skipped:unlikely'] = 'not generated: the predictor found an accept unlikely here',
  ['skipped:in_comment_or_string'] = 'not generated: in a comment or string (suggestInComments is off)',
  empty_after_postprocess = 'nothing left once cleaned up (it repeated the code around it, or was empty)',
  ['hidden:not_worth_showing'] = 'hidden: the predictor found it not worth reading',
  ['hidden:rejected_here'] = 'hidden: you rejected it at this place before',
}

local function describe(reason)
  local words = REASONS[reason]
  return (words and words ~= reason) and ('%s [%s]'):format(words, reason) or tostring(reason)
end

local function preview(s)
  local lines = vim.split(s, '\n', { plain = true })
  local more = #lines > 1 and (' (+%d lines)'):format(#lines - 1) or ''
  return vim.fn.json_encode(lines[1]) .. more
end

--- One line per decision, oldest first, then hints for the usual causes of silence.
function M.format(decisions, scope)
  if #decisions == 0 then
    return {
      ('No decisions in %s since the server started. It decides each time the plugin asks:'):format(scope),
      ('type in the file, or ask with the trigger key (%s).'):format(config.options.keymaps.trigger or 'none mapped'),
    }
  end
  local lines = { ('Why no suggestion? The last %d decisions in %s, oldest first:'):format(#decisions, scope), '' }
  local gated, in_comments = 0, false
  for _, d in ipairs(decisions) do
    local parts = { os.date('%Y-%m-%d %H:%M:%S', math.floor(tonumber(d.time) or 0)) }
    if type(d.position) == 'table' then
      table.insert(parts, ('%d:%d'):format(d.position.line + 1, d.position.character + 1))
    end
    table.insert(parts, describe(d.reason))
    for i, gate in ipairs({ d.gate1 or false, d.gate2 or false }) do
      if type(gate) == 'table' then
        table.insert(parts, ('gate %d: %s'):format(i, tostring(gate.summary or gate.reason)))
      end
    end
    if type(d.suggestion) == 'string' then
      table.insert(parts, preview(d.suggestion))
    end
    table.insert(lines, table.concat(parts, '  '))
    gated = gated + ((d.reason == 'skipped:unlikely' or d.reason == 'hidden:not_worth_showing') and 1 or 0)
    in_comments = in_comments or d.reason == 'skipped:in_comment_or_string'
  end
  if gated > 0 then
    table.insert(lines, '')
    table.insert(lines, ('The acceptance predictor held back %d of them: settings.aggressiveness = "eager" (or'):format(gated))
    table.insert(lines, 'acceptanceGate = false) shows more; a suggestion asked for with the trigger key is always shown.')
  end
  if in_comments then
    table.insert(lines, 'Suggestions in comments and strings are off: settings.suggestInComments.')
  end
  return lines
end

local function scratch(lines)
  vim.cmd('botright new')
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].buftype = 'nofile'
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].swapfile = false
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  vim.api.nvim_win_set_height(0, math.min(#lines + 1, 15))
end

function M.show(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local c = client.get(bufnr)
  if not c then
    vim.notify('Tactful: no server serves this buffer, so there are no decisions to explain', vim.log.levels.WARN)
    return
  end
  local name = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ':t')
  local params = { uri = vim.uri_from_bufnr(bufnr), limit = LIMIT }
  client.request(c, 'tactful/explain', params, function(err, result)
    if err then
      vim.notify('Tactful: explain failed: ' .. tostring(err.message), vim.log.levels.ERROR)
      return
    end
    local decisions = type(result) == 'table' and type(result.decisions) == 'table' and result.decisions or {}
    scratch(M.format(decisions, name))
  end, bufnr)
end

return M
