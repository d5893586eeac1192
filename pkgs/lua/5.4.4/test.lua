print("O" .. "K")
