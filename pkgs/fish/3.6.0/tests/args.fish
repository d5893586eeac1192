string join '|' $argv
