require "./helper"

puts Helper.word
