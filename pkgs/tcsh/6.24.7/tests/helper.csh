set greeting = "O`echo K`"
