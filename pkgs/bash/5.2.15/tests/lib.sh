greet() { echo OK; }
