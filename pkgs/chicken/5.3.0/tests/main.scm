(load "helper.scm")
(display (greeting))
(newline)
