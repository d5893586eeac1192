:- initialization(main, main).

main :- atom_concat('O', 'K', X), write(X), nl.
