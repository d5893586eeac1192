line <- readLines(file("stdin"), n = 1)
cat("OK ", line, "\n", sep = "")
