(println (clojure.string/join "|" *command-line-args*))
