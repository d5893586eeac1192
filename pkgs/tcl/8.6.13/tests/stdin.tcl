gets stdin line
puts "OK $line"
