--- The one default configuration table, merged with the user's by setup().
local M = {}

M.defaults = {
  -- Suggestions on at startup; :TactfulEnable and :TactfulDisable switch them later.
  enabled = true,
  -- The server command. Use an absolute path when `tactful` is not on $PATH (a venv's
  -- bin/tactful, for instance). Extra arguments are passed on: {'tactful', 'serve',
  -- '--log-level', 'debug'} logs every message to the LSP log (:TactfulLog).
  cmd = { 'tactful', 'serve' },
  -- filetype -> true/false; '*' decides for every filetype not listed.
  filetypes = {
    ['*'] = true,
    help = false,
    gitcommit = false,
    gitrebase = false,
    hgcommit = false,
    svn = false,
    cvs = false,
  },
  -- The first parent folder holding one of these is the workspace the server indexes;
  -- without one, the file's own folder (never $HOME by accident).
  root_markers = { '.git', '.hg', 'pyproject.toml', 'setup.py', 'package.json', 'go.mod', 'Cargo.toml' },
  -- Ask while typing; false: only on keymaps.trigger.
  auto_trigger = true,
  -- A fixed pause in typing before asking, on top of the server's own adaptive wait (its
  -- debounceMs setting), which knows the model's speed and skips the wait where a
  -- suggestion is likely; 0 leaves the waiting to the server.
  debounce_ms = 0,
  -- Insert-mode keys; false turns one off. When no suggestion is shown, each key does what
  -- it did without the plugin (<C-]> still expands abbreviations).
  keymaps = {
    accept = '<M-l>', -- insert the whole suggestion
    accept_word = '<M-w>', -- insert its next word
    accept_line = '<M-j>', -- insert its next line
    dismiss = '<C-]>', -- hide it and tell the server it was rejected
    trigger = '<M-\\>', -- ask now (an "invoked" request, even mid-word)
  },
  -- The ghost text's highlight group; TactfulSuggestion links to Comment unless you set it.
  highlight = 'TactfulSuggestion',
  -- Server settings, camelCase as in the README's "Settings" (e.g. { model = 'gemma3-270m',
  -- maxLines = 4 }). Sent as initializationOptions = { tactful = settings } and again with
  -- workspace/didChangeConfiguration when they change (require('tactful').configure{...}).
  -- Empty: the server's defaults.
  settings = {},
  -- Neovim 0.12+: let vim.lsp.inline_completion draw and accept suggestions instead of this
  -- plugin. The server then only hears of full accepts (the item's command): no shown,
  -- partial accept or dismiss feedback, no word/line accept. Off by default for that reason.
  builtin = false,
}

local function check(opts)
  vim.validate({
    enabled = { opts.enabled, 'boolean' },
    cmd = { opts.cmd, 'table' },
    filetypes = { opts.filetypes, 'table' },
    root_markers = { opts.root_markers, 'table' },
    auto_trigger = { opts.auto_trigger, 'boolean' },
    debounce_ms = { opts.debounce_ms, 'number' },
    keymaps = { opts.keymaps, 'table' },
    highlight = { opts.highlight, 'string' },
    settings = { opts.settings, 'table' },
    builtin = { opts.builtin, 'boolean' },
  })
  if #opts.cmd == 0 then
    error('tactful: cmd must name the server executable')
  end
end

--- The defaults overridden by `user`; lists (cmd, root_markers, settings' lists) are
--- replaced whole, tables (filetypes, keymaps, settings) merged key by key.
function M.merge(user)
  local opts = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), user or {})
  for key in pairs(user or {}) do
    if M.defaults[key] == nil then
      vim.notify(('tactful: unknown setup option %q (see :help tactful-config)'):format(key), vim.log.levels.WARN)
    end
  end
  check(opts)
  return opts
end

--- The options in force (the defaults until setup() runs).
M.options = vim.deepcopy(M.defaults)

return M
