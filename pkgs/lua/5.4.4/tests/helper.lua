local M = {}
function M.word() return "OK" end
return M
