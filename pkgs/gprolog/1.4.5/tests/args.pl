:- initialization(main).

join([], '').
join([A], A) :- !.
join([A|T], R) :- join(T, R0), atom_concat(A, '|', A1), atom_concat(A1, R0, R).

main :- argument_list(L), append(_, ['--'|Args], L), !, join(Args, S), write(S), nl.
