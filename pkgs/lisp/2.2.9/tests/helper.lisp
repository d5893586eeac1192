(defun greeting () "OK")
