import sys
print("OK " + sys.stdin.readline().strip())
