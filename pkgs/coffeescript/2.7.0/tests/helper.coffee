exports.word = -> "OK"
