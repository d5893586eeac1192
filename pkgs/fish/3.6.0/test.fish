set parts O K
echo (string join '' $parts)
