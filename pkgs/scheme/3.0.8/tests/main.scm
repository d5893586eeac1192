(use-modules (helper))
(display (word))
(newline)
