(use-modules (ice-9 rdelim))
(define l (read-line))
(display (string-append "héllo ✓ " (string-upcase l) " " (number->string (string-length l))))
(newline)
