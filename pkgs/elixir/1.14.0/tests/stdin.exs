line = IO.gets("") |> String.trim_trailing("\n")
IO.puts("OK " <> line)
