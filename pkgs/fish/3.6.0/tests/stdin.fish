read -l line
echo "OK $line"
