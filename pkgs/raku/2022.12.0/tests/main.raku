use lib $*PROGRAM.parent;
use Helper;
say word();
