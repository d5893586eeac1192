require_relative "helper"
puts Helper.greet
