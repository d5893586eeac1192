local helper = require("helper")
print(helper.word())
