--- Neovim 0.12's own inline completion (vim.lsp.inline_completion), used with
--- `builtin = true`. It requests, draws and accepts the server's items itself and runs an
--- accepted item's command (our tactful.accept), but offers no hook for "shown", partial
--- accepts or dismissals: those go unreported in this mode, and there is no word or line
--- accept. That is why the plugin's own ghost text stays the default on every version.
local M = {}

function M.available()
  return vim.lsp.inline_completion ~= nil and vim.lsp.inline_completion.enable ~= nil
end

function M.attach(bufnr)
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
end

--- Accept the shown item; false when none is shown.
function M.accept()
  return vim.lsp.inline_completion.get() == true
end

return M
