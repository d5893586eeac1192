. ./lib.sh
greet
