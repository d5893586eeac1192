word <- function() "OK"
