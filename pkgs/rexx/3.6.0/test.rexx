/* REXX */
x = "o"
say translate(x) || "K"
