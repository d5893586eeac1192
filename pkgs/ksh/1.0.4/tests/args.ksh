IFS="|"
print -r -- "$*"
