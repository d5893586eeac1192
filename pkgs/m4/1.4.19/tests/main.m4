include(`helper.m4')dnl
ok
