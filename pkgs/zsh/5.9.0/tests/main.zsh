source ./lib.zsh
greet
