def word():
    return "OK"
