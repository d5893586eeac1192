/* REXX */
call 'helper' "O"
say result
