greeting(G) :- atom_concat('O', 'K', G).
