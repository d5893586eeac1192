set line = "$<"
set s = "héllo ✓"
echo "$s $line `printf %s ça✓ | wc -m`"
