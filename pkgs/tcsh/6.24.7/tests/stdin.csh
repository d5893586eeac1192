set line = "$<"
echo "OK $line"
