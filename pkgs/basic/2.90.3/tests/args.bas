n = peek("arguments")
s$ = ""
for i = 1 to n
  if i > 1 s$ = s$ + "|"
  s$ = s$ + peek$("argument")
next i
print s$
