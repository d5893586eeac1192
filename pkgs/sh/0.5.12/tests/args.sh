IFS="|"
echo "$*"
