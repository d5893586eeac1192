import sys
print("OK" if sys.version_info[:2] == (3, 11) else "wrong version")
