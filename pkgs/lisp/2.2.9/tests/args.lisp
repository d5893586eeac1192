(format t "~{~a~^|~}~%" (rest sb-ext:*posix-argv*))
