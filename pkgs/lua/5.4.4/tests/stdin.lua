print("OK " .. io.read("l"))
