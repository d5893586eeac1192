line = gets || ""
puts "OK #{line}"
