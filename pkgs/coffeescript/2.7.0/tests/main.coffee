{ word } = require './helper'
console.log word()
