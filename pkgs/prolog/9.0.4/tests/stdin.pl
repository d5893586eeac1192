:- initialization(main, main).

main :- read_line_to_string(user_input, Line), format("OK ~w~n", [Line]).
