#lang racket
(provide word)
(define (word) "OK")
