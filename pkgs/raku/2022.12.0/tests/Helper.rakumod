unit module Helper;
sub word is export { "OK" }
