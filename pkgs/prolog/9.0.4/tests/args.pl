:- initialization(main, main).

main :- current_prolog_flag(argv, Argv), atomic_list_concat(Argv, '|', S), write(S), nl.
