set -- O K
echo "$1$2"
