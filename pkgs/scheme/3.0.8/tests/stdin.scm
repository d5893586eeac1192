(use-modules (ice-9 rdelim))
(display (string-append "OK " (read-line)))
(newline)
