l <- readLines(file("stdin"), n = 1)
cat("héllo ✓", toupper(l), nchar(l), "\n")
