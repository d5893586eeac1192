:- initialization(main).

main :- atom_codes(A, [0'O, 0'K]), write(A), nl.
