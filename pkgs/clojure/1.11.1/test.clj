(println (apply str (reverse "KO")))
