read -r l
print -r -- "héllo ✓ $l ${#l}"
