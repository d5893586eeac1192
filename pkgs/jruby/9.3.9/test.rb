puts "ok".upcase if RUBY_ENGINE == "jruby"
