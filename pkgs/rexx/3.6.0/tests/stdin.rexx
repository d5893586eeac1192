/* REXX */
parse pull line
say "OK" line
