puts "O" + "K"
