my $line = $*IN.get;
say "OK $line";
