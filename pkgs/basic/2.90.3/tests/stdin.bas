line input "" a$
print "OK " + a$
