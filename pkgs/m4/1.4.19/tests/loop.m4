define(`forloop', `ifelse(eval($2 <= $3), 1, `$4($2)`'forloop(`$1', incr($2), $3, `$4')')')dnl
define(`sq', `eval($1 * $1) ')dnl
forloop(`i', 1, 5, `sq')
m4exit(0)
this is not printed
