define(`ok', `translit(`ok', `a-z', `A-Z')')dnl
