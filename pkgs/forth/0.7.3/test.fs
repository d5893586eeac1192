: ok ." OK" cr ;
ok
