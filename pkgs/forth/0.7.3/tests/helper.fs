: greet ( -- ) ." OK" cr ;
