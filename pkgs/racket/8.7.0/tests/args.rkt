#lang racket
(displayln (string-join (vector->list (current-command-line-arguments)) "|"))
