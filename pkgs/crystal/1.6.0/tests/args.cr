puts ARGV.join("|")
