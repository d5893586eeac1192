{ print "OK " $0; exit }
