l = $stdin.gets.chomp
puts "héllo ✓ #{l.upcase} #{l.length}"
