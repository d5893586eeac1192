(princ (format "OK %s\n" (read-from-minibuffer "")))
