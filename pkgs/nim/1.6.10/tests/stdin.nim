let line = stdin.readLine()
echo "OK ", line
