set out = ""
set n = 1
while ($n <= $#argv)
  if ($n > 1) set out = "$out|"
  set out = "$out$argv[$n]"
  @ n++
end
echo "$out"
