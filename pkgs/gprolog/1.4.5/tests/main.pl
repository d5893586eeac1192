:- include('helper.pl').
:- initialization(main).

main :- greeting(G), write(G), nl.
