(defun helper-word () "OK")
(provide 'helper)
