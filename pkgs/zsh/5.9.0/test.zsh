typeset -A m
m=(k K o O)
echo "${m[o]}${m[k]}"
