(require 'helper)
(princ (concat (helper-word) "\n"))
