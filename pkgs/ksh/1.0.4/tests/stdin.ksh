read -r line
print -r -- "OK $line"
