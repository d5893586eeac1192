(princ (concat (apply #'string (reverse (string-to-list "KO"))) "\n"))
