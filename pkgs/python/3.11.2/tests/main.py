from helper import word
print(word())
