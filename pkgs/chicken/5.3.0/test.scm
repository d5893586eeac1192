(import (chicken string))
(display (conc "O" "K"))
(newline)
