-- Commands only; nothing starts before require('tactful').setup().
if vim.g.loaded_tactful then
  return
end
vim.g.loaded_tactful = true

local function command(name, fn, desc)
  vim.api.nvim_create_user_command(name, function()
    fn(require('tactful'))
  end, { desc = desc })
end

command('TactfulEnable', function(t)
  t.enable()
end, 'Tactful: turn inline suggestions on')
command('TactfulDisable', function(t)
  t.disable()
end, 'Tactful: turn inline suggestions off')
command('TactfulStatus', function(t)
  t.print_status()
end, 'Tactful: server state, clients and recent feedback')
command('TactfulExplain', function()
  require('tactful.explain').show()
end, 'Tactful: why no suggestion? The last decisions for this file')
command('TactfulLog', function(t)
  t.open_log()
end, 'Tactful: open the LSP log (the server writes there)')
