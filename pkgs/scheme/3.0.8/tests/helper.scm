(define-module (helper)
  #:export (word))
(define (word) "OK")
