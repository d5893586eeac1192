(define (greeting) (string-append "O" "K"))
