#lang racket
(displayln (list->string (reverse (string->list "KO"))))
