--- Ghost text: the part of a suggestion not yet in the buffer, drawn with one extmark in
--- our own namespace. Display only; suggestion.lua decides what and when.
local config = require('tactful.config')

local M = {}

M.ns = vim.api.nvim_create_namespace('tactful')

-- 0.10 added inline virtual text, which pushes the rest of the line aside like real text.
local has_inline = vim.fn.has('nvim-0.10') == 1

local function untabbed(s, bufnr)
  -- Virtual text shows a tab as one cell; spread it as the buffer would.
  return (s:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop)))
end

function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- Draw `text` as if inserted at (row, col) (0-based, col in bytes): its first line at the
--- cursor, the others as virtual lines below.
function M.show(bufnr, row, col, text)
  M.clear(bufnr)
  local hl = config.options.highlight
  local lines = vim.split(untabbed(text, bufnr), '\n', { plain = true })
  local virt_lines = {}
  for i = 2, #lines do
    table.insert(virt_lines, { { lines[i], hl } })
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local after = line:sub(col + 1)
  local opts = { hl_mode = 'combine', virt_lines = #virt_lines > 0 and virt_lines or nil }
  if has_inline then
    opts.virt_text, opts.virt_text_pos = { { lines[1], hl } }, 'inline'
  elseif after == '' then
    -- At the end of the line an overlay from the cursor's cell covers only empty cells;
    -- 'eol' would leave a one-cell gap after the line's last character.
    opts.virt_text, opts.virt_text_pos = { { lines[1], hl } }, 'overlay'
  else
    -- Before 0.10 virtual text cannot push text aside: draw the suggestion and then the rest
    -- of the line again over the real rest, so the line reads as it will once accepted.
    opts.virt_text, opts.virt_text_pos = { { lines[1], hl }, { untabbed(after, bufnr), 'Normal' } }, 'overlay'
  end
  if lines[1] == '' and after == '' then
    opts.virt_text, opts.virt_text_pos = nil, nil -- only virtual lines: the suggestion starts with "\n"
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, row, col, opts)
end

--- The text shown now ("" when nothing is), read back from the extmark: what the user sees.
function M.shown_text(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, M.ns, 0, -1, { details = true })
  if #marks == 0 then
    return ''
  end
  local details = marks[1][4]
  local lines = { details.virt_text and details.virt_text[1][1] or '' }
  for _, chunks in ipairs(details.virt_lines or {}) do
    table.insert(lines, chunks[1] and chunks[1][1] or '')
  end
  return table.concat(lines, '\n')
end

return M
