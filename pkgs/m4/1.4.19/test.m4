define(`greet', `O$1')dnl
greet(`K')
