puts "OK #{gets.chomp}"
