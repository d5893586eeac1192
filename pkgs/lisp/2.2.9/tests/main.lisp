(load "helper.lisp")
(format t "~a~%" (greeting))
