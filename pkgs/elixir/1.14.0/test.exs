IO.puts("O" <> "K")
