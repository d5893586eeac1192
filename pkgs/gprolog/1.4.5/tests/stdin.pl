:- initialization(main).

read_line(Cs) :- get_code(C), ( C =:= -1 ; C =:= 10 -> Cs = [] ; Cs = [C|T], read_line(T) ), !.
read_line([]).

main :- read_line(Cs), atom_codes(L, Cs), write('OK '), write(L), nl.
