read -l l
echo "héllo ✓ "(string upper $l)" "(string length $l)
