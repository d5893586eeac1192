my @l = <K O>.reverse;
say @l.join;
