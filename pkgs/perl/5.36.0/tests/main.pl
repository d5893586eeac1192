use strict;
use warnings;
use Helper;
print Helper::word(), "\n";
