source lib.fish
greet
