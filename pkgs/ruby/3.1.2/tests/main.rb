require_relative "helper"
puts Helper.word
