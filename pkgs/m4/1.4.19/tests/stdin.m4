dnl The program's definitions; its input (stdin) follows this file.
define(`piston', `OK `piston'')dnl
