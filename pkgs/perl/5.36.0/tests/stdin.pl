my $line = <STDIN>;
chomp $line;
print "OK $line\n";
