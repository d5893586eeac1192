{ print "héllo ✓ " toupper($0) " " length($0) }
