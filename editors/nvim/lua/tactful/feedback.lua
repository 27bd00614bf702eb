--- What became of each suggestion, told to the server (DESIGN.md, "The protocol beyond LSP
--- 3.18") so its acceptance predictor learns from it. Only suggestions that carry our
--- `tactful.accept` command have an id; others get no feedback.
local client = require('tactful.client')
local lsp_log = require('vim.lsp.log')

local M = {}

M.ACCEPT_COMMAND = 'tactful.accept'

--- The latest events sent, oldest first, for :TactfulStatus and tests:
--- { method = ..., id = ..., accepted_length = n?, pending = true?, error = 'message'? }
M.recent = {}
local KEEP = 20

local function remember(event)
  table.insert(M.recent, event)
  if #M.recent > KEEP then
    table.remove(M.recent, 1)
  end
  return event
end

local function notify(c, method, params)
  client.notify(c, method, params)
  remember({ method = method, id = params.id, accepted_length = params.acceptedLength })
end

--- The completion id an item carries in its command, if the item is one of ours.
function M.id_of(command)
  if type(command) == 'table' and command.command == M.ACCEPT_COMMAND and type(command.arguments) == 'table' then
    local id = command.arguments[1]
    if type(id) == 'string' and id ~= '' then
      return id
    end
  end
  return nil
end

--- The suggestion was drawn on screen (once per suggestion).
function M.shown(c, s)
  if s.id then
    notify(c, 'tactful/shown', { id = s.id })
  end
end

--- The user rejected it explicitly (the dismiss key, or leaving insert mode over it).
function M.dismissed(c, s)
  if s.id then
    notify(c, 'tactful/dismiss', { id = s.id })
  end
end

--- A word or line was accepted; `accepted_length` counts, in UTF-16 code units as VS Code
--- does, all of the suggestion now in the buffer (typed-through characters included).
function M.partially_accepted(c, s, accepted_length)
  if s.id then
    notify(c, 'tactful/partialAccept', { id = s.id, acceptedLength = accepted_length })
  end
end

--- All of it is in the buffer: run the item's command on the server, as an LSP client runs
--- an accepted item's command (workspace/executeCommand tactful.accept [id]).
function M.accepted(c, s, bufnr)
  if not s.id then
    return
  end
  local event = remember({ method = 'workspace/executeCommand', id = s.id, pending = true })
  local params = { command = s.command.command, arguments = s.command.arguments }
  client.request(c, 'workspace/executeCommand', params, function(err)
    event.pending = nil
    if err then
      -- Harmless for the user (the text is in), worth a line in the log.
      event.error = err.message or vim.inspect(err)
      lsp_log.warn('tactful: accept of ' .. s.id .. ' failed: ' .. event.error)
    end
  end, bufnr)
end

return M
