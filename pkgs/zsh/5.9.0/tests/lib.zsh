greet() { print OK }
