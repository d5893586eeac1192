require "java"
list = java.util.ArrayList.new
list.add("O"); list.add("K")
puts list.to_a.join
