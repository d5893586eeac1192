IO.puts(Helper.word())
