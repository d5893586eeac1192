(println (str "OK " (read-line)))
