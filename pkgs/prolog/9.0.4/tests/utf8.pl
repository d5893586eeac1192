:- initialization(main, main).

main :- read_line_to_string(user_input, L), string_upper(L, U), string_length(L, N), format("héllo ✓ ~w ~w~n", [U, N]).
