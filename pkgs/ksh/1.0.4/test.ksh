typeset -u x=o
print -r -- "${x}K"
