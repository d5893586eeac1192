/* REXX */
out = ""
do i = 1 to arg()
  if i > 1 then out = out || "|"
  out = out || arg(i)
end
say out
