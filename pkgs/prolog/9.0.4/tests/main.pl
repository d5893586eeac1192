:- initialization(main, main).
:- use_module(helper).

main :- word(W), write(W), nl.
