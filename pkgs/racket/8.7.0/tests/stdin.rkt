#lang racket
(printf "OK ~a\n" (read-line))
