include helper.fs
greet
