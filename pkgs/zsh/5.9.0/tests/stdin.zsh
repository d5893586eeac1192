read -r line
echo "OK $line"
