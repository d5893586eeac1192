#lang racket
(require "helper.rkt")
(displayln (word))
