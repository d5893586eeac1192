source helper.tcl
puts [word]
