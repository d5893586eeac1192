square = (x) -> x * x
console.log if square(3) is 9 then "OK" else "wrong"
