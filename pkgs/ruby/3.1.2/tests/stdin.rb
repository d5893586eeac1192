puts "OK #{$stdin.gets.chomp}"
