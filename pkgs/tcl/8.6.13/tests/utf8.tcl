gets stdin l
puts "héllo ✓ [string toupper $l] [string length $l]"
