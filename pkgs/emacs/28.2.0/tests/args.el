(princ (concat (mapconcat #'identity command-line-args-left "|") "\n"))
