package Helper;
use strict;
use warnings;
sub word { return "OK" }
1;
