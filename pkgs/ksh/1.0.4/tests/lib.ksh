function greet { print OK; }
