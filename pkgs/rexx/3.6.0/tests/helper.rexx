/* REXX */
parse arg first
return first || "K"
