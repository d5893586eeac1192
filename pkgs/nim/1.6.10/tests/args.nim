import os, strutils

echo commandLineParams().join("|")
