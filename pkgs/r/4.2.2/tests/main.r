source("helper.r")
cat(word(), "\n", sep = "")
