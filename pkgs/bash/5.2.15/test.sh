x=$(printf "%s\n" K O | sort -r | tr -d "\n")
echo "$x"
