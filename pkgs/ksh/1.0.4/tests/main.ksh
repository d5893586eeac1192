. ./lib.ksh
greet
