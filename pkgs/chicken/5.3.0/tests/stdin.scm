(import (chicken io))
(display (string-append "OK " (read-line)))
(newline)
