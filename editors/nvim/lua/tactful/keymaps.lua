--- Insert-mode keys, local to the buffers Tactful serves. Each key falls back to what it
--- did without the plugin when there is nothing to act on.
local M = {}

M.descriptions = {
  accept = 'accept the suggestion',
  accept_word = 'accept the next word of the suggestion',
  accept_line = 'accept the next line of the suggestion',
  dismiss = 'dismiss the suggestion',
  trigger = 'ask for a suggestion now',
}

--- Map `keymaps` (name -> lhs or false) in `bufnr` to `actions` (name -> function that
--- returns true when it acted).
function M.set(bufnr, keymaps, actions)
  for name, lhs in pairs(keymaps) do
    local action = actions[name]
    if lhs and action then
      local keys = vim.api.nvim_replace_termcodes(lhs, true, false, true)
      vim.keymap.set('i', lhs, function()
        if not action() then
          vim.api.nvim_feedkeys(keys, 'n', false) -- 'n': the key itself, not this mapping
        end
      end, { buffer = bufnr, silent = true, desc = 'Tactful: ' .. M.descriptions[name] })
    end
  end
end

--- Names in `keymaps` that are not keymaps the plugin knows.
function M.unknown(keymaps)
  local unknown = {}
  for name in pairs(keymaps) do
    if not M.descriptions[name] then
      table.insert(unknown, name)
    end
  end
  return unknown
end

return M
