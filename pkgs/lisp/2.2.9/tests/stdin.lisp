(format t "OK ~a~%" (read-line))
