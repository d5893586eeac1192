x <- summary(lm(y ~ x, data.frame(x = 1:3, y = c(2.1, 3.9, 6))))
cat(if (x$r.squared > 0.99) "OK" else "bad", "\n", sep = "")
