import strutils
echo "o".toUpperAscii & "K"
